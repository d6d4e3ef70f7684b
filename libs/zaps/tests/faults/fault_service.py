"""The fault suite's service: signed webhooks in, one webhook out per event (carrying its Idempotency-Key)."""

from pydantic import SecretStr
from zaps import Backoff, Run, Service, ZapsSettings, webhook

HOOK_SECRET = "fault-hook-secret-0123456789"
# Enough tries, close together, to outlast a target that fails for a few seconds (scenario 5).
PATIENT = Backoff(first_s=0.2, factor=2, cap_s=2.0)


class FaultSettings(ZapsSettings):
    service_name: str = "faults"
    path_prefix: str = "/api/faults"
    hook_secret: SecretStr = SecretStr(HOOK_SECRET)
    target_url: str = "http://127.0.0.1:9"


service = Service(FaultSettings)


@service.automation(webhook(secret_setting="hook_secret"), max_attempts=10, backoff=PATIENT)
async def forward(run: Run) -> None:
    await run.webhook("deliver", url=run.settings.target_url + "/deliver", payload=run.event.payload)
