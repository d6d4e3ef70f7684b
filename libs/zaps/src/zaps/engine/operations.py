"""How does a person act on runs? Replay one run or a selection, pause and resume an automation, and settle a run
held for review (send its unsure step again, or mark it as done).

The one implementation behind the admin API (`engine/admin.py`), `zaps runs …` (`runs_cli.py`) and the console:
each operation commits its database work (`engine/repository.py`) in a transaction of its own, then wakes the
workers of the queues that got jobs, so a replayed or resumed run starts at once instead of at the workers' next
poll. Callers only translate the outcome into their answer (JSON, a line of text, a redirect).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from psycopg import pq

from zaps.engine import repository, wakeup
from zaps.engine.repository import Conn, Decision, Replayed
from zaps.engine.statuses import RunStatus

MAX_SELECTION = 10_000  # one replay of a selection queues at most this many runs (the oldest first)


class UnknownAutomation(LookupError):
    """No automation has this name."""


class NotHeld(Exception):
    """The run is not waiting for review. `status` is what it is instead, None when there is no such run."""

    def __init__(self, run_id: int, status: str | None) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id} is {status}, not needs_review" if status else f"run {run_id} does not exist")


class Settle(Protocol):
    """`send_again` or `mark_done`, for a caller that offers both the same way."""

    async def __call__(self, conn: Conn, run_id: int, *, by: str) -> Replayed: ...


@dataclass(frozen=True)
class Resumed:
    automation: str
    queued: list[int]  # the runs that waited while it was paused, now queued


def _outside_transaction(conn: Conn) -> None:
    # The wake-up must follow the commit that made the jobs visible; inside a caller's transaction it would not.
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("run operations commit their own work: pass a connection outside any transaction")


async def replay(conn: Conn, run_ids: list[int], *, stalled_after_s: float) -> Replayed:
    """Queue these runs again with the current code (steps the ledger has as done are not repeated). A run still
    at work is refused, and so is an id no run has: `Replayed.refused` says why. A run whose worker has been
    silent for `stalled_after_s` (the setting) counts as stuck, not at work."""
    _outside_transaction(conn)
    async with conn.transaction():
        replayed = await repository.replay(conn, run_ids, stalled_after_s=stalled_after_s)
    await wakeup.notify(conn, replayed.queues)
    return replayed


async def replay_selection(
    conn: Conn,
    *,
    automation: str | None,
    status: RunStatus = RunStatus.DEAD,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_SELECTION,
    stalled_after_s: float,
) -> Replayed:
    """Replay the runs of `automation` (every automation if None) in `status`, created in [since, until), the
    oldest first, at most `limit` of them."""
    _outside_transaction(conn)
    async with conn.transaction():
        ids = await repository.select_replayable(
            conn, automation=automation, status=status, since=since, until=until, limit=limit
        )
        replayed = await repository.replay(conn, ids, stalled_after_s=stalled_after_s)
    await wakeup.notify(conn, replayed.queues)
    return replayed


async def pause(conn: Conn, automation: str) -> None:
    """Pause an automation: its events are still stored, and their runs wait as `paused` until it is resumed."""
    _outside_transaction(conn)
    try:
        async with conn.transaction():
            await repository.set_paused(conn, automation, True)
    except LookupError:
        raise UnknownAutomation(automation) from None


async def resume(conn: Conn, automation: str) -> Resumed:
    """Resume an automation: the runs that waited while it was paused are queued, and their workers woken."""
    _outside_transaction(conn)
    try:
        async with conn.transaction():
            queued = await repository.set_paused(conn, automation, False)
            queues = await repository.defer_queues(conn, queued)
    except LookupError:
        raise UnknownAutomation(automation) from None
    await wakeup.notify(conn, queues)
    return Resumed(automation=automation, queued=queued)


async def send_again(conn: Conn, run_id: int, *, by: str) -> Replayed:
    """A run held for review: its unsure step is sent again (with the same idempotency key), and the run goes on.
    `by` (who decided: "CLI", "console (admin)") is recorded in the ledger."""
    return await _settle(conn, run_id, decision="send_again", by=by)


async def mark_done(conn: Conn, run_id: int, *, by: str) -> Replayed:
    """A run held for review: its unsure step is recorded as done without sending it, and the run goes on."""
    return await _settle(conn, run_id, decision="mark_done", by=by)


async def _settle(conn: Conn, run_id: int, *, decision: Decision, by: str) -> Replayed:
    _outside_transaction(conn)
    try:
        async with conn.transaction():
            replayed = await repository.resolve_held(conn, run_id, decision=decision, by=by)
    except repository.NotHeld:
        raise NotHeld(run_id, await repository.run_status(conn, run_id)) from None
    await wakeup.notify(conn, replayed.queues)
    return replayed
