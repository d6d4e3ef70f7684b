"""The SQL of housekeeping: the silent-trigger checks, pruning and the job queue's statistics. Functions take an
open connection, so the caller decides the transaction."""

from __future__ import annotations

from datetime import datetime

from zaps.engine.repository import Conn


async def analyze_job_queue(conn: Conn) -> None:
    """Fresh statistics for the job queue's fetch query, even where autovacuum is off (migration 0004 says why)."""
    await conn.execute("ANALYZE procrastinate_jobs")


async def last_sign_of_life(conn: Conn, *, source: str, automation: str) -> datetime | None:
    """The automation's last event, or when its code last started (registered) if that is later."""
    cursor = await conn.execute(
        "SELECT greatest((SELECT max(received_at) FROM zaps_event WHERE source = %s), "
        "(SELECT registered_at FROM zaps_automation WHERE name = %s)) AS last",
        (source, automation),
    )
    row = await cursor.fetchone()
    return row["last"] if row else None


async def last_poll_ok(conn: Conn, source: str, *, default: datetime) -> datetime | None:
    """When the poller last succeeded (`default` if never); None if it has no timer."""
    cursor = await conn.execute(
        "SELECT coalesce(last_ok_at, %s) AS last FROM zaps_timer WHERE name = %s",
        (default, source),
    )
    row = await cursor.fetchone()
    return row["last"] if row else None


async def prune_runs(conn: Conn, service: str, *, keep_days: int, keep_dead_days: int, batch: int) -> int:
    """Delete up to `batch` of the service's succeeded and filtered runs older than `keep_days`, and dead (or held)
    ones older than `keep_dead_days`; returns how many."""
    cursor = await conn.execute(
        """
        DELETE FROM zaps_run WHERE id IN (
            SELECT r.id FROM zaps_run r JOIN zaps_automation a ON a.name = r.automation
            WHERE a.service = %(service)s AND (
                (r.status IN ('succeeded', 'filtered') AND r.created_at < now() - make_interval(days => %(keep)s))
                OR (r.status IN ('dead', 'needs_review')
                    AND r.created_at < now() - make_interval(days => %(keep_dead)s)))
            LIMIT %(batch)s)
        """,
        {"service": service, "keep": keep_days, "keep_dead": keep_dead_days, "batch": batch},
    )
    return cursor.rowcount


async def prune_events(conn: Conn, service: str, *, keep_days: int, batch: int) -> int:
    """Delete up to `batch` of the service's events older than `keep_days` that no run needs; returns how many."""
    cursor = await conn.execute(
        """
        DELETE FROM zaps_event WHERE id IN (
            SELECT e.id FROM zaps_event e
            WHERE e.received_at < now() - make_interval(days => %(keep)s)
              AND NOT EXISTS (SELECT 1 FROM zaps_run r WHERE r.event_id = e.id)
              AND e.source IN (SELECT source FROM zaps_automation WHERE service = %(service)s)
            LIMIT %(batch)s)
        """,
        {"service": service, "keep": keep_days, "batch": batch},
    )
    return cursor.rowcount


async def fail_stalled_job(conn: Conn, job_id: int) -> bool:
    """End a job whose worker was taken for dead as failed (never to run again: its run gets a new job), unless it
    is no longer `doing`. Returns whether it was."""
    # Locked first, then ended: a row the same statement's function updated would be skipped by its FOR UPDATE.
    cursor = await conn.execute(
        "SELECT id FROM procrastinate_jobs WHERE id = %s AND status = 'doing' FOR UPDATE", (job_id,)
    )
    if await cursor.fetchone() is None:
        return False
    await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", (job_id,))
    return True
