"""One try of a handler, bounded by its automation's timeout, so a hung handler never holds a worker for ever.

The handler runs in a task of its own. When the timeout passes, the task is cancelled: a step it was sending stays
`started` in the ledger, which the next try reads as unsure (its `on_unsure` rule decides), exactly as after a
crash. A handler that swallows the cancellation (or is stuck in code that never yields) is given
`CANCEL_GRACE_S` to end and then left behind, logged: the try ends either way, so the worker's slot is freed and
the run retries. What cannot be stopped this way is code that blocks the event loop (a synchronous call): that
stops the whole worker, heartbeat included, and the run is rerun elsewhere once the worker is taken for dead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

logger = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0  # how long a cancelled handler may take to unwind (its `finally` blocks) before it is left


class HandlerTimeout(TimeoutError):
    """The try outlasted its automation's timeout: a retryable failure (`zaps.retry.is_retryable`)."""


async def within(timeout_s: float, work: Awaitable[None], *, automation: str) -> None:
    """Run `work` (the handler's coroutine); raise `HandlerTimeout` if it is not done within `timeout_s`."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if task in done:
            return task.result()  # its own outcome, exception included
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
    except asyncio.CancelledError:  # the worker itself is stopping: the handler stops with it
        task.cancel()
        raise
    if done:
        _forget(task)  # whatever it raised while unwinding, the try is over because its time was
    else:
        logger.error(
            "handler ignored its cancellation after its timeout; left behind",
            extra={"automation": automation, "timeout_s": timeout_s},
        )
        task.add_done_callback(_forget)
    raise HandlerTimeout(f"the handler did not finish within {timeout_s:g} s (the automation's timeout)")


def _forget(task: asyncio.Future[None]) -> None:
    # Read its end, so asyncio does not log "exception was never retrieved" for a task we chose to leave.
    if not task.cancelled():
        task.exception()
