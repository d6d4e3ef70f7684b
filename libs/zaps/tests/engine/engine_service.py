"""A small service for the engine's tests: webhooks in, webhooks out, with fast retries."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from zaps import PollContext, PollResult, Retry, Run, Service, ZapsSettings, schedule, webhook
from zaps.engine.triggers import NewEvent


# Tests wait for outcomes, not for the default schedule's hours: a few quick tries.
def fast(attempts: int) -> Retry:
    return Retry.exponential(attempts=attempts, first=timedelta(seconds=0.05), cap=timedelta(seconds=0.3))


class EngineSettings(ZapsSettings):
    service_name: str = "enginetest"
    path_prefix: str = "/api/enginetest"
    hook_secret: SecretStr = SecretStr("hook-secret-0123456789")
    hook_token: SecretStr = SecretStr("hook-token-0123456789")
    target_url: str = "http://127.0.0.1:9"
    slow_seconds: float = 0.0
    tick_cron: str = "0 0 1 1 *"  # tests that need ticks set every second
    poll_every_s: float = 3600  # tests that poll set a short interval


service = Service(EngineSettings)


# In-process tests hold an execution before its step: an event whose payload has "gate": G waits, in its attempt A,
# on GATES[(G, A)] if there is one, after adding (G, A) to ARRIVED (test_fence.py: a stale execution).
GATES: dict[tuple[str, int], asyncio.Event] = {}
ARRIVED: set[tuple[str, int]] = set()


@service.automation(webhook(secret_setting="hook_secret"), retry=fast(3))
async def forward(run: Run) -> None:
    if run.event.payload.get("skip"):
        run.filter("asked to skip")
    if (gate := GATES.get((str(run.event.payload.get("gate")), run.attempt))) is not None:
        ARRIVED.add((str(run.event.payload["gate"]), run.attempt))
        await gate.wait()
    await run.webhook("deliver", url=run.settings.target_url + "/deliver", payload=run.event.payload)


@service.automation(webhook(token_setting="hook_token"), retry=fast(2))
async def tokened(run: Run) -> None:
    await run.webhook("deliver", url=run.settings.target_url + "/tokened", payload=run.event.payload)


@service.automation(webhook(secret_setting="hook_secret"), retry=fast(3))
async def two_steps(run: Run) -> None:
    await run.webhook("first", url=run.settings.target_url + "/first", payload=run.event.payload)
    if run.event.payload.get("slow"):
        await asyncio.sleep(run.settings.slow_seconds)
    await run.webhook("second", url=run.settings.target_url + "/second", payload=run.event.payload)


@service.automation(schedule(cron_setting="tick_cron", timezone="Europe/Paris"), name="ticking", retry=Retry(delays=()))
async def ticking(run: Run) -> None:
    await asyncio.sleep(float(run.settings.slow_seconds))


# What the poller finds: tests append records (id, body); `FEED_FAILURE` makes the next fetch raise.
FEED: list[tuple[int, dict[str, Any]]] = []


@service.poller("feed", every_setting="poll_every_s")
async def feed(poll: PollContext) -> PollResult:
    """Returns the records after the cursor (the last id seen)."""
    after = poll.cursor or 0
    rows = [(record_id, body) for record_id, body in FEED if record_id > after][:100]
    events = [NewEvent(key=str(record_id), kind=body.get("kind", "item"), payload=body) for record_id, body in rows]
    return PollResult(events=events, cursor=rows[-1][0] if rows else after)


@service.automation(feed.on("item"), retry=fast(2), silent_after=timedelta(hours=1))
async def feed_items(run: Run) -> None:
    await run.webhook("deliver", url=run.settings.target_url + "/feed", payload=run.event.payload)


# One automation per on_unsure rule, each to its own path of the sink (which does not deduplicate).
@service.automation(webhook(secret_setting="hook_secret"), retry=fast(3))
async def unsure_resend(run: Run) -> None:
    await run.webhook("deliver", url=run.settings.target_url + "/resend", payload=run.event.payload)


async def arrived_at_sink(target_url: str, path: str, key: str) -> dict[str, Any] | None:
    """A `verify` function: asks the sink whether a request with this key reached `path`."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(target_url + "/_received", params={"path": path})
    return {"found_at_target": True} if key in answer.json()["keys"] else None


@service.automation(webhook(secret_setting="hook_secret"), retry=fast(3))
async def unsure_check(run: Run) -> None:
    async def verify(key: str) -> dict[str, Any] | None:
        return await arrived_at_sink(run.settings.target_url, "/check", key)

    await run.webhook(
        "deliver", url=run.settings.target_url + "/check", payload=run.event.payload, on_unsure="check", verify=verify
    )


@service.automation(webhook(secret_setting="hook_secret"), retry=fast(3))
async def unsure_hold(run: Run) -> None:
    await run.webhook("deliver", url=run.settings.target_url + "/hold", payload=run.event.payload, on_unsure="hold")
    await run.webhook("after", url=run.settings.target_url + "/after", payload=run.event.payload)
