"""The timeout and retry tests' service (a real server process imports it as "timeouts_service:service").

`push_contact` is the worked example of docs/automations.md ("Timeouts" and "Retries"), word for word: the test
checks the docs show this code as it is.
"""

import asyncio
from datetime import timedelta

from pydantic import SecretStr
from zaps import Retry, Run, Service, ZapsSettings, schedule, webhook
from zaps.engine import deadline


class TimeoutSettings(ZapsSettings):
    service_name: str = "timeouttest"
    path_prefix: str = "/api/timeouttest"
    hook_token: SecretStr = SecretStr("timeout-hook-token-0123456789")
    crm_url: str = "http://127.0.0.1:9"  # the tests point it at a sink, a silent server or an unreachable port
    target_url: str = "http://127.0.0.1:9"
    tick_cron: str = "0 0 1 1 *"  # the schedule test sets every second


service = Service(TimeoutSettings)

QUICK = Retry(delays=(timedelta(seconds=0.2),) * 2)  # tests wait for outcomes, not for the default's hours


# --- the worked example ------------------------------------------------------------------------------------------
@service.automation(
    webhook(token_setting="hook_token"),
    timeout=timedelta(minutes=2),  # one try of the whole handler
    retry=Retry(delays=(timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))),
)
async def push_contact(run: Run[TimeoutSettings]) -> None:
    await run.webhook(
        "push-contact",
        url=run.settings.crm_url,
        payload=run.event.payload,
        timeout=timedelta(seconds=3),  # one try of this step
        on_unsure="hold",  # the CRM keeps no idempotency key: a person decides
    )


# --- the end of the worked example -------------------------------------------------------------------------------


@service.automation(webhook(token_setting="hook_token"), timeout=timedelta(seconds=1), retry=QUICK)
async def hangs(run: Run[TimeoutSettings]) -> None:
    """Its first try hangs (an `await` that never returns); the automation's timeout ends it, and the retry works."""
    if run.event.payload.get("hang") and run.attempt == 1:
        await asyncio.Event().wait()
    await run.webhook("deliver", url=run.settings.target_url + "/hangs", payload=run.event.payload)


STUBBORN_ENDED: list[float] = []  # when each stubborn handler finally returned (loop time)


@service.automation(webhook(token_setting="hook_token"), timeout=timedelta(seconds=1), retry=Retry(delays=()))
async def stubborn(run: Run[TimeoutSettings]) -> None:
    """Swallows its cancellation and goes on past the grace period: it is left behind, and the try ends anyway."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.sleep(deadline.CANCEL_GRACE_S + 3)
    STUBBORN_ENDED.append(asyncio.get_running_loop().time())


@service.automation(webhook(token_setting="hook_token"), retry=QUICK)
async def quick(run: Run[TimeoutSettings]) -> None:
    await run.webhook("deliver", url=run.settings.target_url + "/quick", payload=run.event.payload)


@service.automation(webhook(token_setting="hook_token"), retry=QUICK)
async def resend_crm(run: Run[TimeoutSettings]) -> None:
    """The example's step with the `resend` rule: each try after a timeout goes out again, with the same key."""
    await run.webhook(
        "push-contact", url=run.settings.crm_url, payload=run.event.payload, timeout=timedelta(seconds=0.5)
    )


@service.automation(webhook(token_setting="hook_token"), retry=QUICK)
async def http_crm(run: Run[TimeoutSettings]) -> None:
    """The same call through `run.http`, whose default rule without an idempotency header is `hold`."""
    await run.http("push-contact", method="POST", url=run.settings.crm_url, json=run.event.payload, timeout=0.5)


@service.automation(
    schedule(cron_setting="tick_cron"), timeout=timedelta(seconds=1), retry=Retry(delays=(timedelta(hours=1),))
)
async def hung_schedule(run: Run[TimeoutSettings]) -> None:
    """Every try hangs; the next try would be an hour away."""
    await asyncio.Event().wait()
