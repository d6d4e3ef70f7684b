"""Send an SMS through RingCentral as a step of a run: once per event (the ledger), within 40 a minute.

RingCentral takes no idempotency key for SMS, so what a failure means decides whether another try may send:
- a 429 or a 5xx answer: RingCentral answered and did not take the message, so the run retries (Retry-After kept);
- no connection at all: nothing left, so the run retries;
- a timeout or a connection lost after sending: the SMS may be out. The run goes `dead` with that said, and a
  person checks the phone's history before replaying it. A doubled text to a customer costs more than a late one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError
from zaps import PermanentError, RetryableError, Run
from zaps.context import Runtime

from ringcentral_service.errors import AuthError, NetworkError, RateLimited, RingCentralError, ServerError
from ringcentral_service.pollers import client_for

logger = logging.getLogger(__name__)

SMS_PER_MINUTE = 40  # RingCentral's own cap on SMS sending, on top of the Medium group (research §2.7)
# httpx errors raised before a byte of the request left: the message cannot have been sent.
_NOT_SENT = ("ConnectError", "ConnectTimeout", "PoolTimeout")


async def _within_sms_limit(runtime: Runtime, namespace: str) -> None:
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
        return PermanentError(f"{error}: the SMS may have been sent; check before replaying this run")
    if isinstance(error, ServerError):
        return RetryableError(str(error), retry_after=error.retry_after)
    if isinstance(error, AuthError):
        return PermanentError(f"{error}: check RINGCENTRAL_CLIENT_ID, _CLIENT_SECRET and _JWT")
    return PermanentError(str(error))


async def send_sms(run: Run, *, step: str, from_number: str, to: str, text: str) -> dict[str, Any]:
    """Send `text` to `to` once for this run's event; returns RingCentral's message id and status."""
    runtime: Runtime = run.runtime
    client = client_for(runtime)

    async def send(key: str) -> dict[str, Any]:
        await _within_sms_limit(runtime, client.store.namespace)
        try:
            message = await client.send_sms(from_number=from_number, to_number=to, text=text, idempotency_key=key)
        except RingCentralError as error:
            raise as_run_error(error) from None
        return {"message_id": message.get("id"), "message_status": message.get("messageStatus")}

    return await run.step(step, send, input={"from": from_number, "to": to, "text": text})
