"""Send an SMS through RingCentral as a step of a run: once per event (the ledger), within 40 a minute.

RingCentral takes no idempotency key for SMS, so what a failure means decides whether another try may send:
- a 429 or a 5xx answer: RingCentral answered and did not take the message, so the run retries (Retry-After kept);
- no connection at all: nothing left, so the run retries;
- a timeout or a connection lost after sending (or a worker that stopped before recording the answer): the SMS may
  be out, so the step is *unsure* and its rule is `check`: the next try looks the message up in RingCentral's
  message store (an outbound SMS from the same number to the same number with the same text, created since the
  try began) and sends only if it is not there. A doubled text to a customer costs more than a late one.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from zaps import PermanentError, RetryableError, Run
from zaps.context import Runtime
from zaps.retry import UnsureError

from ringcentral_service.client import RingCentralClient
from ringcentral_service.errors import AuthError, NetworkError, RateLimited, RingCentralError, ServerError
from ringcentral_service.pollers import client_for
from ringcentral_service.settings import Settings

logger = logging.getLogger(__name__)

SMS_PER_MINUTE = 40  # RingCentral's own cap on SMS sending, on top of the Medium group (research §2.7)
# httpx errors raised before a byte of the request left: the message cannot have been sent.
_NOT_SENT = ("ConnectError", "ConnectTimeout", "PoolTimeout")
# The message store's clock and ours may differ a little: look back this much before the try began.
CLOCK_SLACK = timedelta(minutes=5)


async def _within_sms_limit(runtime: Runtime[Settings], namespace: str) -> None:
    """Count this send in the current minute, shared by every worker; past the cap, wait for the next minute."""
    minute = int(time.time() // 60)
    key = f"{namespace}:sms-window:{minute}"
    try:
        count = int(await runtime.redis.incr(key))
        await runtime.redis.expire(key, 120)
    except (RedisError, OSError):
        return  # Redis is only a cache: without it RingCentral's own 429 still holds the line
    if count > SMS_PER_MINUTE:
        raise RetryableError(f"SMS limit of {SMS_PER_MINUTE}/min reached", retry_after=60 - time.time() % 60 + 1)


def as_run_error(error: RingCentralError) -> Exception:
    if isinstance(error, RateLimited):
        return RetryableError(str(error), retry_after=error.retry_after)
    if isinstance(error, NetworkError):
        if any(name in str(error) for name in _NOT_SENT):
            return RetryableError(str(error))
        return UnsureError(f"{error}: the SMS may have been sent")
    if isinstance(error, ServerError):
        return RetryableError(str(error), retry_after=error.retry_after)
    if isinstance(error, AuthError):
        return PermanentError(f"{error}: check RINGCENTRAL_CLIENT_ID, _CLIENT_SECRET and _JWT")
    return PermanentError(str(error))


async def find_sent_sms(
    client: RingCentralClient, *, from_number: str, to: str, text: str, since: datetime
) -> dict[str, Any] | None:
    """The outbound SMS from `from_number` to `to` with this text created since `since`, if the message store has
    one (what an unsure send is checked against)."""
    try:
        found = await client.message_sync("FSync", date_from=since - CLOCK_SLACK, message_types=("SMS",))
    except RingCentralError as error:
        raise as_run_error(error) from None
    for message in found.records:
        recipients = [party.get("phoneNumber") for party in message.get("to") or []]
        if (
            message.get("direction") == "Outbound"
            and (message.get("from") or {}).get("phoneNumber") == from_number
            and to in recipients
            and message.get("subject") == text
        ):
            return {"message_id": message.get("id"), "message_status": message.get("messageStatus")}
    return None


async def send_sms(run: Run[Settings], *, step: str, from_number: str, to: str, text: str) -> dict[str, Any]:
    """Send `text` to `to` once for this run's event; returns RingCentral's message id and status. An unsure send
    is checked in the message store before it is sent again."""
    runtime = run.runtime
    client = client_for(runtime)

    async def send(key: str) -> dict[str, Any]:
        await _within_sms_limit(runtime, client.store.namespace)
        try:
            message = await client.send_sms(from_number=from_number, to_number=to, text=text, idempotency_key=key)
        except RingCentralError as error:
            raise as_run_error(error) from None
        return {"message_id": message.get("id"), "message_status": message.get("messageStatus")}

    async def verify(key: str) -> dict[str, Any] | None:
        since = await run.step_started_at(step)
        return await find_sent_sms(client, from_number=from_number, to=to, text=text, since=since)

    return await run.step(
        step, send, input={"from": from_number, "to": to, "text": text}, on_unsure="check", verify=verify
    )
