"""The engine's SQL about automations, events, runs, steps, the ledger and replays (the ticker's, housekeeping's,
alerts' and the wake-up's sit in their own *_repository modules beside it). Functions take an open connection, so
the caller decides the transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from zaps.engine.automation import Automation
from zaps.engine.statuses import (
    ACTIVE,
    ALERTED,
    REPLAYABLE,
    TERMINAL,
    LedgerStatus,
    RunStatus,
    StepStatus,
    sql_list,
)
from zaps.settings import SettingsT

Conn = AsyncConnection[Any]

RUN_TASK = "zaps.run"


# SQL: the run `r` has a job that will still run it. An active run without one is stuck: its job failed or vanished
# while the run was `queued`, `running` or `retrying` (a database error while claiming or finishing it). The
# condition matches the partial index of migration 0005, so it never reads the finished jobs.
LIVE_JOB = sql.SQL(
    "EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.task_name = 'zaps.run' "
    "AND j.status IN ('todo', 'doing') AND (j.args ->> 'run_id')::bigint = r.id)"
)


def events_queue(service: str) -> str:
    return f"{service}.events"


# --- automations -------------------------------------------------------------------------------------------------


async def register_automations(conn: Conn, service: str, automations: Sequence[Automation[SettingsT]]) -> None:
    """Record what this service runs (the console and the CLI read it), keeping each automation's pause switch."""
    for automation in automations:
        await conn.execute(
            """
            INSERT INTO zaps_automation (name, service, source, kinds, trigger, max_attempts, silent_after_s)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET
                service = EXCLUDED.service, source = EXCLUDED.source, kinds = EXCLUDED.kinds,
                trigger = EXCLUDED.trigger, max_attempts = EXCLUDED.max_attempts,
                silent_after_s = EXCLUDED.silent_after_s, registered_at = now()
            """,
            (
                automation.name,
                service,
                automation.source,
                automation.kinds,
                Jsonb(automation.describe_trigger()),
                automation.max_attempts,
                int(automation.silent_after_s) if automation.silent_after_s else None,
            ),
        )


async def ensure_timer(conn: Conn, *, name: str, service: str, kind: str, first_due: datetime) -> None:
    """Create the timer if it is new; an existing one keeps its due time and cursor."""
    await conn.execute(
        "INSERT INTO zaps_timer (name, service, kind, next_due_at) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (name) DO NOTHING",
        (name, service, kind, first_due),
    )


async def list_automations(conn: Conn) -> list[dict[str, Any]]:
    """Every automation of every service, by name."""
    cursor = await conn.execute(
        "SELECT name, service, source, kinds, trigger, max_attempts, silent_after_s, paused, registered_at "
        "FROM zaps_automation ORDER BY name"
    )
    return [dict(row) for row in await cursor.fetchall()]


async def set_paused(conn: Conn, automation: str, paused: bool) -> list[int]:
    """Pause or resume. Resuming queues the runs held while paused; returns their ids."""
    cursor = await conn.execute("UPDATE zaps_automation SET paused = %s WHERE name = %s", (paused, automation))
    if cursor.rowcount == 0:
        raise LookupError(automation)
    if paused:
        return []
    cursor = await conn.execute(
        "UPDATE zaps_run SET status = 'queued' WHERE automation = %s AND status = 'paused' RETURNING id",
        (automation,),
    )
    run_ids = [row["id"] for row in await cursor.fetchall()]
    await defer_runs(conn, run_ids)
    return run_ids


# --- events ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ingested:
    event_id: int
    duplicate: bool
    run_ids: list[int]
    queues: list[str]  # the queues that got a job: wake their workers after the commit


_INGEST = """
WITH ev AS (
    INSERT INTO zaps_event (source, dedup_key, kind, payload, headers)
    VALUES (%(source)s, %(key)s, %(kind)s, %(payload)s, %(headers)s)
    ON CONFLICT (source, dedup_key) DO UPDATE
        SET duplicates = zaps_event.duplicates + 1, last_duplicate_at = now()
    RETURNING id, (xmax = 0) AS inserted
), targets AS (
    SELECT a.name, a.service, a.max_attempts, a.paused
    FROM zaps_automation a, ev
    WHERE ev.inserted AND a.source = %(source)s AND (a.kinds IS NULL OR %(kind)s = ANY (a.kinds))
), runs AS (
    INSERT INTO zaps_run (automation, event_id, status, max_attempts, code_version)
    SELECT t.name, ev.id, CASE WHEN t.paused THEN 'paused' ELSE 'queued' END, t.max_attempts, %(version)s
    FROM targets t, ev
    RETURNING id, automation, status
), jobs AS (
    SELECT procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW(t.service || '.events', 'zaps.run', 0, NULL, NULL, jsonb_build_object('run_id', r.id), NULL)
               ::procrastinate_job_to_defer_v1
        FROM runs r JOIN targets t ON t.name = r.automation
        WHERE r.status = 'queued'
    )) AS job_ids
)
SELECT ev.id, ev.inserted, (SELECT coalesce(array_agg(id), '{}') FROM runs) AS run_ids,
       (SELECT coalesce(array_agg(DISTINCT t.service || '.events'), '{}')
        FROM runs r JOIN targets t ON t.name = r.automation WHERE r.status = 'queued') AS queues,
       (SELECT job_ids FROM jobs)
FROM ev
"""


async def ingest(
    conn: Conn,
    *,
    source: str,
    key: str,
    payload: Any,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    code_version: str | None = None,
) -> Ingested:
    """Store an event and queue a run for each automation listening, in one statement (so one transaction).

    A second event with the same (source, key) is counted as a duplicate and starts nothing.
    """
    cursor = await conn.execute(
        _INGEST,
        {
            "source": source,
            "key": key,
            "kind": kind,
            "payload": payload if isinstance(payload, Jsonb) else Jsonb(payload),
            "headers": Jsonb(headers) if headers is not None else None,
            "version": code_version,
        },
    )
    row = await cursor.fetchone()
    assert row is not None
    return Ingested(
        event_id=row["id"], duplicate=not row["inserted"], run_ids=list(row["run_ids"]), queues=list(row["queues"])
    )


async def defer_queues(conn: Conn, run_ids: Sequence[int]) -> list[str]:
    """The queues the jobs of these runs went to."""
    if not run_ids:
        return []
    cursor = await conn.execute(
        "SELECT DISTINCT a.service || '.events' AS queue FROM zaps_run r JOIN zaps_automation a "
        "ON a.name = r.automation WHERE r.id = ANY (%s)",
        (list(run_ids),),
    )
    return [row["queue"] for row in await cursor.fetchall()]


async def defer_runs(conn: Conn, run_ids: Sequence[int]) -> list[str]:
    """Queue a job for each run, on its service's queue; returns the queues (to wake after the commit)."""
    if not run_ids:
        return []
    await conn.execute(
        """
        SELECT procrastinate_defer_jobs_v1(ARRAY(
            SELECT ROW(a.service || '.events', 'zaps.run', 0, NULL, NULL, jsonb_build_object('run_id', r.id), NULL)
                   ::procrastinate_job_to_defer_v1
            FROM zaps_run r JOIN zaps_automation a ON a.name = r.automation
            WHERE r.id = ANY (%s)
        ))
        """,
        (list(run_ids),),
    )
    return await defer_queues(conn, run_ids)


# --- runs --------------------------------------------------------------------------------------------------------


async def claim_run(conn: Conn, run_id: int, worker: str, code_version: str) -> dict[str, Any] | None:
    """Mark a run as running for one more attempt; None if it is already finished (a duplicate job).

    The attempt's `attempts` and `attempt_id` are its fence: `finish_run` given them refuses to finish the run once
    a later claim (or a replay) has taken it over."""
    cursor = await conn.execute(
        """
        UPDATE zaps_run SET status = 'running', attempts = attempts + 1, next_attempt_at = NULL,
                            started_at = coalesce(started_at, now()), code_version = %(version)s
        WHERE id = %(id)s AND status IN ('queued', 'retrying', 'running')
        RETURNING id, automation, event_id, attempts, max_attempts
        """,
        {"id": run_id, "version": code_version},
    )
    run = await cursor.fetchone()
    if run is None:
        return None
    # An attempt left open by a worker that died is closed as crashed, so the timeline tells the truth.
    await conn.execute(
        "UPDATE zaps_attempt SET finished_at = now(), outcome = 'crashed', "
        "error = 'the worker stopped during this attempt' WHERE run_id = %s AND finished_at IS NULL",
        (run_id,),
    )
    cursor = await conn.execute(
        "INSERT INTO zaps_attempt (run_id, number, worker, code_version) VALUES (%s, %s, %s, %s) RETURNING id",
        (run_id, run["attempts"], worker, code_version),
    )
    attempt = await cursor.fetchone()
    assert attempt is not None  # INSERT … RETURNING
    run["attempt_id"] = attempt["id"]
    cursor = await conn.execute(
        "SELECT id, source, dedup_key, kind, payload, headers, received_at FROM zaps_event WHERE id = %s",
        (run["event_id"],),
    )
    run["event"] = await cursor.fetchone()
    return dict(run)


async def finish_run(
    conn: Conn,
    run_id: int,
    *,
    status: RunStatus,
    error: str | None = None,
    filter_reason: str | None = None,
    retry_in_s: float | None = None,
    fence: tuple[int, int] | None = None,
) -> bool:
    """Record how the run ended. With `fence`, the claim's `(attempts, attempt_id)`, only if no later claim or
    replay took the run over meanwhile: a stale execution (its worker was taken for dead while it still ran) cannot
    overwrite the newer one's outcome. False when refused."""
    cursor = await conn.execute(
        """
        UPDATE zaps_run r SET status = %(status)s, error = %(error)s, filter_reason = %(reason)s,
            finished_at = CASE WHEN %(terminal)s THEN now() ELSE NULL END,
            alert_pending = CASE WHEN %(alerted)s THEN true ELSE alert_pending END,
            next_attempt_at = CASE WHEN %(retry)s::float8 IS NULL THEN NULL
                                   ELSE now() + make_interval(secs => %(retry)s::float8) END
        WHERE id = %(id)s
          AND (%(fenced)s IS FALSE OR (r.attempts = %(attempts)s::int AND NOT EXISTS (
                   SELECT 1 FROM zaps_attempt t WHERE t.run_id = r.id AND t.id > %(attempt_id)s::bigint)))
        RETURNING id
        """,
        {
            "status": status,
            "error": error,
            "reason": filter_reason,
            "terminal": status in TERMINAL,
            "alerted": status in ALERTED,
            "retry": retry_in_s,
            "id": run_id,
            "fenced": fence is not None,
            "attempts": fence[0] if fence else None,
            "attempt_id": fence[1] if fence else None,
        },
    )
    if await cursor.fetchone() is None:
        return False
    await conn.execute(
        "UPDATE zaps_attempt SET finished_at = now(), outcome = %s, error = %s "
        "WHERE run_id = %s AND finished_at IS NULL",
        (status, error, run_id),
    )
    return True


async def claim_is_current(conn: Conn, run_id: int, fence: tuple[int, int]) -> bool:
    """Whether the claim `fence` (`attempts`, `attempt_id`) still owns the run: it is `running`, and neither a later
    claim nor a replay nor housekeeping (which queues it again) took it over. Checked in the transaction that marks
    a step started, so an execution taken for dead sends nothing once the run has moved on without it."""
    cursor = await conn.execute(
        """
        SELECT 1 FROM zaps_run r
        WHERE r.id = %(id)s AND r.status = 'running' AND r.attempts = %(attempts)s
          AND NOT EXISTS (SELECT 1 FROM zaps_attempt t WHERE t.run_id = r.id AND t.id > %(attempt_id)s)
        """,
        {"id": run_id, "attempts": fence[0], "attempt_id": fence[1]},
    )
    return await cursor.fetchone() is not None


async def mark_dead(conn: Conn, run_id: int, error: str) -> None:
    """End a run that cannot go on (no job left to run it) as dead, listed in the next dead-run alert."""
    await finish_run(conn, run_id, status=RunStatus.DEAD, error=error)


async def orphaned_runs(conn: Conn, service: str, *, limit: int = 1000) -> list[int]:
    """This service's active runs that no job will run any more (see `LIVE_JOB`), oldest first."""
    query = sql.SQL(
        """
        SELECT r.id FROM zaps_run r JOIN zaps_automation a ON a.name = r.automation
        WHERE r.status IN ('queued', 'running', 'retrying') AND a.service = %s AND NOT {live}
        ORDER BY r.id LIMIT %s
        """
    ).format(live=LIVE_JOB)
    cursor = await conn.execute(
        query,
        (service, limit),
    )
    return [row["id"] for row in await cursor.fetchall()]


ORPHANED = "its job ended without recording the outcome (a database error); queued again"


async def recover_orphan(conn: Conn, run_id: int, *, max_recoveries: int, why: str = ORPHANED) -> str | None:
    """Queue a stuck run again, or end it as dead once it has been recovered `max_recoveries` times.

    Returns "requeued", "dead", or None when the run is no longer stuck (it finished or got a job meanwhile) or is
    locked by a transaction still at work on it (the next pass looks again). Call it inside a transaction.
    """
    query = sql.SQL(
        """
        SELECT id, recoveries FROM zaps_run r
        WHERE id = %s AND status IN ('queued', 'running', 'retrying') AND NOT {live}
        FOR UPDATE SKIP LOCKED
        """
    ).format(live=LIVE_JOB)
    cursor = await conn.execute(
        query,
        (run_id,),
    )
    run = await cursor.fetchone()
    if run is None:
        return None
    if run["recoveries"] >= max_recoveries:
        await mark_dead(conn, run_id, f"its job ended without finishing it {run['recoveries'] + 1} times")
        return "dead"
    await conn.execute(
        "UPDATE zaps_run SET status = 'queued', recoveries = recoveries + 1, next_attempt_at = NULL WHERE id = %s",
        (run_id,),
    )
    await conn.execute(
        "UPDATE zaps_attempt SET finished_at = now(), outcome = 'crashed', error = %s "
        "WHERE run_id = %s AND finished_at IS NULL",
        (why, run_id),
    )
    await defer_runs(conn, [run_id])
    return "requeued"


async def record_step(
    conn: Conn,
    *,
    run_id: int,
    attempt: int,
    name: str,
    status: StepStatus,
    input: Any,
    output: Any,
    error: str | None,
    duration_ms: float,
) -> None:
    await conn.execute(
        "INSERT INTO zaps_step (run_id, attempt, name, status, input, output, error, duration_ms) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (run_id, attempt, name, status, Jsonb(input), Jsonb(output), error, duration_ms),
    )


# --- the idempotency ledger --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """Where a step stands when a try begins: `go` (send now: it never started, or the last try is known not to
    have happened), `done` (answer with `output`), or `unsure` (a try may have reached the target: the step's
    `on_unsure` rule decides)."""

    state: str
    output: Any = None
    started_at: datetime | None = None
    tries: int = 0


async def ledger_begin(conn: Conn, *, automation: str, event_id: int, step: str, key: str) -> LedgerEntry:
    """Record the intent to send this step, unless it is done or unsure. Call it in its own transaction and
    commit before sending: a try that dies after this leaves `started` behind, which the next try reads as
    unsure."""
    cursor = await conn.execute(
        "INSERT INTO zaps_ledger (automation, event_id, step, idempotency_key, status) "
        "VALUES (%s, %s, %s, %s, 'started') ON CONFLICT DO NOTHING RETURNING status",
        (automation, event_id, step, key),
    )
    if await cursor.fetchone() is not None:
        return LedgerEntry("go", tries=1)
    cursor = await conn.execute(
        "SELECT status, output, started_at, tries FROM zaps_ledger "
        "WHERE automation = %s AND event_id = %s AND step = %s FOR UPDATE",
        (automation, event_id, step),
    )
    row = await cursor.fetchone()
    assert row is not None
    if row["status"] == LedgerStatus.SUCCEEDED:
        return LedgerEntry("done", output=row["output"], started_at=row["started_at"], tries=row["tries"])
    if row["status"] == LedgerStatus.NOT_DONE:
        await ledger_resend(conn, key=key)
        return LedgerEntry("go", tries=row["tries"] + 1)
    return LedgerEntry("unsure", started_at=row["started_at"], tries=row["tries"])


async def ledger_resend(conn: Conn, *, key: str) -> None:
    """Mark a step started again, just before another try goes out with the same key."""
    await conn.execute(
        "UPDATE zaps_ledger SET status = 'started', started_at = now(), tries = tries + 1 WHERE idempotency_key = %s",
        (key,),
    )


async def ledger_started_at(conn: Conn, *, key: str) -> datetime | None:
    cursor = await conn.execute("SELECT started_at FROM zaps_ledger WHERE idempotency_key = %s", (key,))
    row = await cursor.fetchone()
    return row["started_at"] if row else None


async def ledger_complete(conn: Conn, *, key: str, output: Any, resolution: str | None = None) -> None:
    await conn.execute(
        "UPDATE zaps_ledger SET status = 'succeeded', output = %s, completed_at = now(), "
        "resolution = coalesce(%s, resolution) WHERE idempotency_key = %s",
        (Jsonb(output), resolution, key),
    )


async def ledger_not_done(conn: Conn, *, key: str) -> None:
    """The try failed in a way that says it did not happen (the target refused, or was never reached)."""
    await conn.execute("UPDATE zaps_ledger SET status = 'not_done' WHERE idempotency_key = %s", (key,))


async def ledger_unsure(conn: Conn, *, key: str) -> None:
    await conn.execute("UPDATE zaps_ledger SET status = 'unsure' WHERE idempotency_key = %s", (key,))


class NotHeld(Exception):
    """The run is not waiting for review (it is not `needs_review`, or does not exist)."""


Decision = Literal["send_again", "mark_done"]


async def resolve_held(conn: Conn, run_id: int, *, decision: Decision, by: str) -> Replayed:
    """Settle a `needs_review` run's unsure steps and queue the run to go on. `decision` is `send_again` (the
    steps are sent again, with the same idempotency key) or `mark_done` (they count as done and are not sent).
    Call it inside a transaction."""
    if decision not in ("send_again", "mark_done"):
        raise ValueError(decision)
    cursor = await conn.execute(
        "SELECT automation, event_id FROM zaps_run WHERE id = %s AND status = 'needs_review' FOR UPDATE", (run_id,)
    )
    run = await cursor.fetchone()
    if run is None:
        raise NotHeld(run_id)
    resolution = f"{decision.replace('_', ' ')} by {by}"[:500]
    if decision == "send_again":
        await conn.execute(
            "UPDATE zaps_ledger SET status = 'not_done', resolution = %s "
            "WHERE automation = %s AND event_id = %s AND status IN ('started', 'unsure')",
            (resolution, run["automation"], run["event_id"]),
        )
    else:
        await conn.execute(
            "UPDATE zaps_ledger SET status = 'succeeded', completed_at = now(), resolution = %s, "
            "output = jsonb_build_object('marked_done', true, 'by', %s::text) "
            "WHERE automation = %s AND event_id = %s AND status IN ('started', 'unsure')",
            (resolution, by, run["automation"], run["event_id"]),
        )
    return await replay(conn, [run_id])


async def unsure_steps(conn: Conn, run_id: int) -> list[dict[str, Any]]:
    """The steps of a run's event that are unsure (what a `needs_review` run waits on)."""
    cursor = await conn.execute(
        "SELECT l.step, l.idempotency_key, l.status, l.started_at, l.tries FROM zaps_ledger l "
        "JOIN zaps_run r ON r.automation = l.automation AND r.event_id = l.event_id "
        "WHERE r.id = %s AND l.status IN ('started', 'unsure') ORDER BY l.started_at",
        (run_id,),
    )
    return [dict(row) for row in await cursor.fetchall()]


# --- reading and replaying runs ----------------------------------------------------------------------------------


def run_filter(
    *,
    automation: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: tuple[datetime, int] | None = None,
) -> tuple[sql.Composable, dict[str, Any]]:
    """A WHERE clause over zaps_run holding only the filters given, and its parameters.

    Not `(%s IS NULL OR automation = %s)`: psycopg prepares a statement after five uses, PostgreSQL may then switch
    to one generic plan, and a generic plan cannot use such a filter as an index condition (measured: a 3 ms count
    became 13 ms, a runs page 160 ms). One text per combination of filters keeps every plan on its index.
    """
    clauses: list[sql.Composable] = [sql.SQL("true")]
    params: dict[str, Any] = {}
    conditions = {
        "automation": (automation, "automation = %(automation)s"),
        "status": (status, "status = %(status)s"),
        "since": (since, "created_at >= %(since)s"),
        "until": (until, "created_at < %(until)s"),
    }
    for name, (value, condition) in conditions.items():
        if value is not None:
            clauses.append(sql.SQL(condition))  # our own literals above, never user input
            params[name] = value
    if before is not None:
        clauses.append(sql.SQL("(created_at, id) < (%(before_at)s, %(before_id)s)"))
        params.update(before_at=before[0], before_id=before[1])
    return sql.SQL(" AND ").join(clauses), params


async def list_runs(
    conn: Conn,
    *,
    automation: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest first, paginated by a (created_at, id) cursor, so page 1,000 costs what page 1 does."""
    where, params = run_filter(automation=automation, status=status, since=since, until=until, before=before)
    query = sql.SQL(
        """
        SELECT id, automation, event_id, status, attempts, max_attempts, error, filter_reason, code_version,
               created_at, started_at, finished_at, next_attempt_at
        FROM zaps_run WHERE {where}
        ORDER BY created_at DESC, id DESC
        LIMIT %(limit)s
        """
    ).format(where=where)
    cursor = await conn.execute(query, {**params, "limit": limit})
    return [dict(row) for row in await cursor.fetchall()]


async def get_run(conn: Conn, run_id: int) -> dict[str, Any] | None:
    query = sql.SQL(
        """
        SELECT r.*, row_to_json(e) AS event,
               (r.status IN ('queued', 'running', 'retrying') AND NOT {live}) AS stuck
        FROM zaps_run r JOIN zaps_event e ON e.id = r.event_id
        WHERE r.id = %s
        """
    ).format(live=LIVE_JOB)
    cursor = await conn.execute(query, (run_id,))
    run = await cursor.fetchone()
    if run is None:
        return None
    run = dict(run)
    cursor = await conn.execute(
        "SELECT number, started_at, finished_at, outcome, error, worker, code_version FROM zaps_attempt "
        "WHERE run_id = %s ORDER BY id",
        (run_id,),
    )
    run["attempt_log"] = [dict(row) for row in await cursor.fetchall()]
    cursor = await conn.execute(
        "SELECT attempt, name, status, input, output, error, started_at, duration_ms FROM zaps_step "
        "WHERE run_id = %s ORDER BY id",
        (run_id,),
    )
    run["steps"] = [dict(row) for row in await cursor.fetchall()]
    # While a run is active its current step is `started` on purpose; unsure means something only after.
    run["unsure_steps"] = [] if run["status"] in ACTIVE else await unsure_steps(conn, run_id)
    run["ledger"] = await ledger_of(conn, automation=run["automation"], event_id=run["event_id"])
    return run


async def ledger_of(conn: Conn, *, automation: str, event_id: int) -> list[dict[str, Any]]:
    """The ledger entries of one automation's steps for one event: each step's key, where it stands, its tries."""
    cursor = await conn.execute(
        "SELECT step, idempotency_key, status, tries, started_at, completed_at, resolution FROM zaps_ledger "
        "WHERE automation = %s AND event_id = %s ORDER BY started_at",
        (automation, event_id),
    )
    return [dict(row) for row in await cursor.fetchall()]


async def select_replayable(
    conn: Conn,
    *,
    automation: str | None,
    status: RunStatus,
    since: datetime | None,
    until: datetime | None = None,
    limit: int = 10_000,
) -> list[int]:
    """The runs a filter selects for replay, the oldest first (they have waited longest), at most `limit`."""
    where, params = run_filter(automation=automation, status=status, since=since, until=until)
    query = sql.SQL("SELECT id FROM zaps_run WHERE {where} ORDER BY created_at, id LIMIT %(limit)s").format(where=where)
    cursor = await conn.execute(query, {**params, "limit": limit})
    return [row["id"] for row in await cursor.fetchall()]


async def run_status(conn: Conn, run_id: int) -> str | None:
    """A run's status, or None if there is no such run."""
    cursor = await conn.execute("SELECT status FROM zaps_run WHERE id = %s", (run_id,))
    row = await cursor.fetchone()
    return str(row["status"]) if row else None


async def run_position(conn: Conn, run_id: int) -> tuple[datetime, int] | None:
    """Where a run sits in the newest-first order of `list_runs` (its `before` cursor), or None if there is none."""
    cursor = await conn.execute("SELECT created_at, id FROM zaps_run WHERE id = %s", (run_id,))
    row = await cursor.fetchone()
    return (row["created_at"], row["id"]) if row else None


@dataclass(frozen=True)
class Replayed:
    queued: list[int]
    refused: dict[int, str]  # run id → why not (still going, unknown)
    queues: list[str]  # wake these after the commit


_STALLED_JOBS = """
SELECT j.id FROM procrastinate_jobs j
WHERE j.task_name = 'zaps.run' AND j.status = 'doing' AND (j.args ->> 'run_id')::bigint = ANY (%(ids)s)
  AND NOT EXISTS (SELECT 1 FROM procrastinate_workers w WHERE w.id = j.worker_id
                  AND w.last_heartbeat > now() - make_interval(secs => %(stalled)s))
"""


async def replay(conn: Conn, run_ids: Sequence[int], *, stalled_after_s: float = 30.0) -> Replayed:
    """Queue runs again with the current code. Steps the ledger has as done are not repeated.

    A finished run can be replayed, and so can a stuck one: active, with no job that will run it, or whose job's
    worker has sent no heartbeat for `stalled_after_s` (that job is failed first, so it is never run as well).

    The run starts afresh, as the display should tell it: `started_at` is cleared (the next claim sets it, so the
    duration shown is that of this execution, not one spanning the replay), the attempt count restarts at 0 and
    `max_attempts` is the automation's current one, so "attempt 1 of 3" counts the attempts of this execution.
    The earlier attempts stay in the timeline, before its `replayed` entry.
    """
    ids = list(run_ids)
    cursor = await conn.execute(_STALLED_JOBS, {"ids": ids, "stalled": stalled_after_s})
    for job in await cursor.fetchall():
        await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", (job["id"],))
    query = sql.SQL(
        """
        UPDATE zaps_run r SET status = 'queued', attempts = 0, error = NULL, filter_reason = NULL,
                              started_at = NULL, finished_at = NULL, next_attempt_at = NULL, recoveries = 0,
                              alert_pending = NULL,
                              max_attempts = coalesce((SELECT a.max_attempts FROM zaps_automation a
                                                       WHERE a.name = r.automation), r.max_attempts)
        WHERE id = ANY (%s) AND (status = ANY (%s) OR (status = ANY (%s) AND NOT {live}))
        RETURNING id
        """
    ).format(live=LIVE_JOB)
    cursor = await conn.execute(query, (ids, sql_list(REPLAYABLE), sql_list(ACTIVE)))
    queued = sorted(row["id"] for row in await cursor.fetchall())
    queues: list[str] = []
    if queued:
        await conn.execute(
            "INSERT INTO zaps_attempt (run_id, number, finished_at, outcome) "
            "SELECT id, 0, now(), 'replayed' FROM unnest(%s::bigint[]) AS id",
            (queued,),
        )
        queues = await defer_runs(conn, queued)
    refused: dict[int, str] = {}
    missing = set(run_ids) - set(queued)
    if missing:
        cursor = await conn.execute("SELECT id, status FROM zaps_run WHERE id = ANY (%s)", (list(missing),))
        found = {row["id"]: row["status"] for row in await cursor.fetchall()}
        for run_id in sorted(missing):
            refused[run_id] = f"run is {found[run_id]} (its job is still at work)" if run_id in found else "no such run"
    return Replayed(queued=queued, refused=refused, queues=queues)


def to_json(value: Any) -> Any:
    """Rows to plain JSON (datetimes as ISO strings)."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))
