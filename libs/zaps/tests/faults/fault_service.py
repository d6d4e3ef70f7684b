"""The fault suite's service: signed webhooks in, one webhook out per event (carrying its Idempotency-Key), sent on
the terms of the `ON_UNSURE` rule the test chose (resend, check or hold)."""

from datetime import timedelta
from typing import Any, Literal

import httpx
from pydantic import SecretStr
from zaps import Retry, Run, Service, ZapsSettings, webhook

HOOK_SECRET = "fault-hook-secret-0123456789"
# Enough tries, close together, to outlast a target that fails for a few seconds (scenario 5): 10 tries, the last
# 9.75 to 11.7 s after the first failure (the suite's bounds were set for 6.5 to 13 s).
PATIENT = Retry.exponential(attempts=10, first=timedelta(seconds=0.15), cap=timedelta(seconds=1.5))


class FaultSettings(ZapsSettings):
    service_name: str = "faults"
    path_prefix: str = "/api/faults"
    hook_secret: SecretStr = SecretStr(HOOK_SECRET)
    target_url: str = "http://127.0.0.1:9"
    on_unsure: Literal["resend", "check", "hold"] = "resend"


service = Service(FaultSettings)


async def received_by_target(target_url: str, key: str) -> dict[str, Any] | None:
    """The `check` rule's verify: asks the receiver (zaps.testing.sink, GET /_received?key=K) whether a delivery
    with this Idempotency-Key reached it. Any other answer than 200 or 404 raises: the step is then neither sent
    nor settled, and the run tries again later."""
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(target_url + "/_received", params={"key": key})
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    received: dict[str, Any] = answer.json()["received"]
    return {"found_at_target": received}


@service.automation(webhook(secret_setting="hook_secret"), retry=PATIENT)
async def forward(run: Run[FaultSettings]) -> None:
    target = run.settings.target_url

    async def verify(key: str) -> dict[str, Any] | None:
        return await received_by_target(target, key)

    await run.webhook(
        "deliver",
        url=target + "/deliver",
        payload=run.event.payload,
        on_unsure=run.settings.on_unsure,
        verify=verify if run.settings.on_unsure == "check" else None,
    )
