"""A small service for the tests of `run.http`: each event lists the calls to make, credentials come from settings."""

from datetime import timedelta
from typing import Any

from pydantic import SecretStr
from zaps import Retry, Run, Service, ZapsSettings, webhook

FAST = Retry.exponential(attempts=3, first=timedelta(seconds=0.05), cap=timedelta(seconds=0.3))
API_USER = "api-user"


class HttpSettings(ZapsSettings):
    service_name: str = "httptest"
    path_prefix: str = "/api/httptest"
    hook_secret: SecretStr = SecretStr("hook-secret-0123456789")
    api_url: str = "http://127.0.0.1:9"
    api_password: SecretStr = SecretStr("pw-not-set")
    api_token: SecretStr = SecretStr("token-not-set")


service = Service(HttpSettings)


@service.automation(webhook(secret_setting="hook_secret"), retry=FAST)
async def calls(run: Run[HttpSettings]) -> None:
    """`{"calls": [{"step": ..., "path": ..., "auth": "basic" | "bearer", <run.http options>}]}`"""
    for call in run.event.payload["calls"]:
        options: dict[str, Any] = dict(call)
        step, path = options.pop("step"), options.pop("path")
        kind = options.pop("auth", None)
        if kind == "bearer":
            options["bearer"] = run.settings.api_token.get_secret_value()
        elif kind == "basic":
            options["auth"] = (API_USER, run.settings.api_password.get_secret_value())
        await run.http(step, url=run.settings.api_url + path, **options)
