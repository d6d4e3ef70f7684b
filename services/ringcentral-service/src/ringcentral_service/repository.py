"""The service's SQL: the poll streams' status, and the SMS replies already sent. Functions take an open
connection, so the caller decides the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zaps.db import DictConnection


@dataclass(frozen=True)
class StreamStatus:
    """A poll stream's timer as the status page shows it."""

    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    next_due_at: datetime
    sync_time: str | None  # the cursor's `sync_time`, as RingCentral sent it
    events_24h: int


async def stream_status(conn: DictConnection, source: str) -> StreamStatus | None:
    """The stream's last poll, its error, its cursor's sync time and its events of the last 24 hours; None if the
    stream has no timer yet."""
    cursor = await conn.execute(
        """
        SELECT t.last_ok_at, t.last_error, t.last_error_at, t.next_due_at, t.cursor->>'sync_time' AS sync_time,
               (SELECT count(*) FROM zaps_event e
                WHERE e.source = t.name AND e.received_at > now() - interval '24 hours') AS events_24h
        FROM zaps_timer t WHERE t.name = %s
        """,
        (source,),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return StreamStatus(
        last_ok_at=row["last_ok_at"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
        next_due_at=row["next_due_at"],
        sync_time=row["sync_time"],
        events_24h=row["events_24h"],
    )


async def lock_until_commit(conn: DictConnection, key: str) -> None:
    """Wait for, then hold until the transaction ends, the lock named `key` (any transaction taking it waits)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))


async def last_text_to(
    conn: DictConnection, *, automation: str, step: str, number: str, other_than_event: int, hours: float
) -> datetime | None:
    """When the automation's `step` last succeeded texting `number` for an event other than `other_than_event`,
    within the last `hours`; None if it did not."""
    cursor = await conn.execute(
        """
        SELECT max(s.started_at) AS at FROM zaps_step s JOIN zaps_run r ON r.id = s.run_id
        WHERE r.automation = %s AND s.name = %s AND s.status = 'succeeded'
          AND s.input->>'to' = %s AND r.event_id <> %s AND s.started_at > now() - make_interval(secs => %s)
        """,
        (automation, step, number, other_than_event, hours * 3600),
    )
    row = await cursor.fetchone()
    at: datetime | None = row["at"] if row else None
    return at
