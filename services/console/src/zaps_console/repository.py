"""The console's own read queries: the automations overview, the dead runs a filter counts, a run's progress,
and its sign-in sessions.

Listing runs and showing one use `zaps.engine.repository`; replaying, pausing, resuming and settling runs go
through `zaps.engine.operations` (which also wakes the workers). Only what those lack is here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from zaps.engine.operations import MAX_SELECTION
from zaps.engine.repository import run_filter

Conn = AsyncConnection[Any]

MAX_REPLAY = MAX_SELECTION  # one confirmation replays at most this many (the oldest first); the next takes the rest

# Each LATERAL answers from an index of zaps_run or zaps_event: the last run and event are one probe each, the
# 24 h counts read that day's runs, and the dead count reads the partial index of dead runs (migration 0004).
_OVERVIEW = """
SELECT a.name, a.service, a.source, a.kinds, a.trigger, a.max_attempts, a.paused, a.registered_at,
       last_run.id AS last_run_id, last_run.status AS last_run_status, last_run.created_at AS last_run_at,
       last_event.received_at AS last_fired_at,
       coalesce(day.succeeded, 0) AS succeeded_24h, coalesce(day.filtered, 0) AS filtered_24h,
       coalesce(day.dead, 0) AS dead_24h, coalesce(day.total, 0) AS runs_24h,
       dead.waiting AS dead_waiting
FROM zaps_automation a
LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.created_at FROM zaps_run r
    WHERE r.automation = a.name ORDER BY r.created_at DESC, r.id DESC LIMIT 1
) last_run ON true
LEFT JOIN LATERAL (
    SELECT e.received_at FROM zaps_event e
    WHERE e.source = a.source ORDER BY e.received_at DESC LIMIT 1
) last_event ON true
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE r.status = 'filtered') AS filtered,
           count(*) FILTER (WHERE r.status = 'dead') AS dead,
           count(*) AS total
    FROM zaps_run r
    WHERE r.automation = a.name AND r.created_at >= now() - interval '24 hours'
) day ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS waiting FROM zaps_run r WHERE r.status = 'dead' AND r.automation = a.name
) dead ON true
ORDER BY a.service, a.name
"""


async def automations_overview(conn: Conn) -> list[dict[str, Any]]:
    """Every automation of every service, with its last run, last event, last 24 h and dead runs waiting."""
    cursor = await conn.execute(_OVERVIEW)
    return [dict(row) for row in await cursor.fetchall()]


async def automation_names(conn: Conn) -> list[str]:
    cursor = await conn.execute("SELECT name FROM zaps_automation ORDER BY name")
    return [row["name"] for row in await cursor.fetchall()]


async def count_dead(
    conn: Conn, *, automation: str | None, since: datetime | None, until: datetime | None, limit: int = MAX_REPLAY
) -> int:
    """How many dead runs the filter selects, counted up to `limit` + 1 (so a huge backlog costs no more)."""
    where, params = run_filter(status="dead", automation=automation, since=since, until=until)
    query = sql.SQL("SELECT count(*) AS n FROM (SELECT 1 FROM zaps_run WHERE {where} LIMIT %(limit)s + 1) AS s")
    cursor = await conn.execute(query.format(where=where), {**params, "limit": limit})
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def run_status(conn: Conn, run_id: int) -> dict[str, Any] | None:
    """What the run page polls while a run is going: its status and progress."""
    cursor = await conn.execute(
        "SELECT id, status, attempts, max_attempts, finished_at, next_attempt_at FROM zaps_run WHERE id = %s",
        (run_id,),
    )
    row = await cursor.fetchone()
    return dict(row) if row else None


# --- sessions ----------------------------------------------------------------------------------------------------


async def open_session(conn: Conn, *, record_id: str, username: str, expires_at: datetime) -> None:
    """Record a new session (and forget the expired ones: a handful of rows, one admin)."""
    await conn.execute("DELETE FROM zaps_console_session WHERE expires_at <= now()")
    await conn.execute(
        "INSERT INTO zaps_console_session (id, username, expires_at) VALUES (%s, %s, %s)",
        (record_id, username, expires_at),
    )


async def session_is_open(conn: Conn, record_id: str) -> bool:
    cursor = await conn.execute("SELECT 1 FROM zaps_console_session WHERE id = %s AND expires_at > now()", (record_id,))
    return await cursor.fetchone() is not None


async def end_session(conn: Conn, record_id: str) -> None:
    await conn.execute("DELETE FROM zaps_console_session WHERE id = %s", (record_id,))


async def end_every_session(conn: Conn, username: str) -> int:
    cursor = await conn.execute("DELETE FROM zaps_console_session WHERE username = %s", (username,))
    return cursor.rowcount
