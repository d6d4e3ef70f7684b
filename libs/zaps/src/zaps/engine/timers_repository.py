"""The SQL of the engine's timers (`zaps_timer`) and schedule ticks (`zaps_tick`), for the ticker and the
scheduler's status. Functions take an open connection, so the caller decides the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from zaps.engine.repository import LIVE_JOB, Conn


@dataclass(frozen=True)
class DueSchedule:
    name: str
    next_due_at: datetime


@dataclass(frozen=True)
class DuePoll:
    name: str
    cursor: Any
    version: int


@dataclass(frozen=True)
class TimerState:
    """A schedule or poll as the scheduler's status shows it."""

    name: str
    kind: str
    next_due_at: datetime
    last_started_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_tick: dict[str, Any] | None  # {"tick_at", "outcome"} of the latest tick, schedules only


# --- schedules ---------------------------------------------------------------------------------------------------


async def claim_due_schedules(conn: Conn, service: str) -> list[DueSchedule]:
    """The service's schedules that are due, locked until the transaction ends (another replica skips them)."""
    cursor = await conn.execute(
        "SELECT name, next_due_at FROM zaps_timer WHERE service = %s AND kind = 'schedule' "
        "AND next_due_at <= now() FOR UPDATE SKIP LOCKED",
        (service,),
    )
    return [DueSchedule(name=row["name"], next_due_at=row["next_due_at"]) for row in await cursor.fetchall()]


async def has_live_run(conn: Conn, automation: str) -> bool:
    """Whether the automation has a run queued or at work that a job will still run."""
    # Only a run that a job will still run counts: a stuck one (its job failed or vanished) must not skip every
    # later tick; housekeeping queues it again or ends it. A run `retrying` does not count either: between tries it
    # may wait for hours (the default retry schedule spans about 11), and a hung try ends at its automation's
    # timeout and becomes one, so neither holds the schedule beyond that timeout.
    overlap = sql.SQL(
        "SELECT 1 FROM zaps_run r WHERE automation = %s AND status IN ('queued', 'running') AND {live} LIMIT 1"
    ).format(live=LIVE_JOB)
    cursor = await conn.execute(overlap, (automation,))
    return await cursor.fetchone() is not None


async def record_tick(conn: Conn, *, automation: str, tick_at: datetime, outcome: str, event_id: int | None) -> None:
    await conn.execute(
        "INSERT INTO zaps_tick (automation, tick_at, outcome, event_id) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (automation, tick_at, outcome, event_id),
    )


async def schedule_next(conn: Conn, name: str, next_due_at: datetime) -> None:
    """A tick is handled (fired or skipped): the schedule is due next at `next_due_at`."""
    await conn.execute(
        "UPDATE zaps_timer SET next_due_at = %s, last_started_at = now(), last_ok_at = now() WHERE name = %s",
        (next_due_at, name),
    )


# --- polls -------------------------------------------------------------------------------------------------------


async def claim_due_polls(conn: Conn, service: str, *, busy: list[str]) -> list[DuePoll]:
    """The service's polls that are due, except the `busy` ones still running here; locked until the transaction
    ends (another replica skips them)."""
    cursor = await conn.execute(
        "SELECT name, cursor, version FROM zaps_timer WHERE service = %s AND kind = 'poll' "
        "AND next_due_at <= now() AND NOT (name = ANY (%s)) FOR UPDATE SKIP LOCKED",
        (service, busy),
    )
    return [DuePoll(name=row["name"], cursor=row["cursor"], version=row["version"]) for row in await cursor.fetchall()]


async def start_interval(conn: Conn, name: str, interval_s: float) -> None:
    """A poll starts: it is due again `interval_s` from now."""
    await conn.execute(
        "UPDATE zaps_timer SET next_due_at = now() + make_interval(secs => %s), last_started_at = now() "
        "WHERE name = %s",
        (interval_s, name),
    )


async def store_cursor(conn: Conn, name: str, *, cursor: Any, version: int) -> bool:
    """Store a poll's new cursor if the stored one is still at `version`; False if another replica moved it."""
    moved = await conn.execute(
        "UPDATE zaps_timer SET cursor = %s, version = version + 1, last_ok_at = now(), last_error = NULL "
        "WHERE name = %s AND version = %s",
        (Jsonb(cursor), name, version),
    )
    return moved.rowcount > 0


async def record_poll_error(conn: Conn, name: str, *, error: str, retry_after_s: float | None) -> None:
    """Record a failed poll; a `retry_after_s` (the server asked for a pause) pushes its next poll back."""
    await conn.execute(
        "UPDATE zaps_timer SET last_error = %s, last_error_at = now(), next_due_at = CASE "
        "WHEN %s::float8 IS NULL THEN next_due_at "
        "ELSE greatest(next_due_at, now() + make_interval(secs => %s::float8)) END WHERE name = %s",
        (error, retry_after_s, retry_after_s, name),
    )


# --- housekeeping ------------------------------------------------------------------------------------------------


async def claim_if_due(conn: Conn, name: str, interval_s: float) -> bool:
    """If the timer is due, move it `interval_s` on and return True (one replica wins it)."""
    cursor = await conn.execute(
        "UPDATE zaps_timer SET next_due_at = now() + make_interval(secs => %s), last_started_at = now() "
        "WHERE name = %s AND next_due_at <= now() RETURNING name",
        (interval_s, name),
    )
    return await cursor.fetchone() is not None


async def record_ok(conn: Conn, name: str) -> None:
    await conn.execute("UPDATE zaps_timer SET last_ok_at = now() WHERE name = %s", (name,))


# --- status ------------------------------------------------------------------------------------------------------

_TIMERS = """
SELECT t.name, t.kind, t.next_due_at, t.last_started_at, t.last_ok_at, t.last_error, t.last_error_at,
       (SELECT row_to_json(k) FROM (SELECT tick_at, outcome FROM zaps_tick WHERE automation = t.name
                                    ORDER BY tick_at DESC LIMIT 1) k) AS last_tick
FROM zaps_timer t WHERE t.service = %s AND t.kind IN ('schedule', 'poll') ORDER BY t.name
"""


async def schedules_and_polls(conn: Conn, service: str) -> list[TimerState]:
    """The service's schedules and polls by name, each with its latest tick."""
    cursor = await conn.execute(_TIMERS, (service,))
    return [
        TimerState(
            name=row["name"],
            kind=row["kind"],
            next_due_at=row["next_due_at"],
            last_started_at=row["last_started_at"],
            last_ok_at=row["last_ok_at"],
            last_error=row["last_error"],
            last_error_at=row["last_error_at"],
            last_tick=row["last_tick"],
        )
        for row in await cursor.fetchall()
    ]
