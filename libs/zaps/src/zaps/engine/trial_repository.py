"""The SQL of a trial run (`zaps run`): its event and its run, stored without a job, held while it runs."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from zaps.engine.repository import Conn
from zaps.engine.trials import SOURCE_PREFIX, Mode, trial_headers


async def store_trial(
    conn: Conn, *, automation: str, source: str, kind: str | None, payload: Any, mode: Mode, code_version: str
) -> tuple[int, int]:
    """A trial's event and its one run, `queued` with no job: `zaps run` executes it in its own process. One try
    (`max_attempts` 1): the person at the terminal sees the error at once rather than after a backoff. Returns
    (event id, run id)."""
    cursor = await conn.execute(
        "INSERT INTO zaps_event (source, dedup_key, kind, payload, headers) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (SOURCE_PREFIX + source, f"trial:{uuid.uuid4()}", kind, Jsonb(payload), Jsonb(trial_headers(mode))),
    )
    event = await cursor.fetchone()
    assert event is not None  # INSERT … RETURNING
    cursor = await conn.execute(
        "INSERT INTO zaps_run (automation, event_id, status, max_attempts, code_version) "
        "VALUES (%s, %s, 'queued', 1, %s) RETURNING id",
        (automation, event["id"], code_version),
    )
    run = await cursor.fetchone()
    assert run is not None
    return int(event["id"]), int(run["id"])


async def hold(conn: Conn, run_id: int) -> None:
    """Keep housekeeping from taking the trial, which has no job, for a stuck run while `zaps run` executes it.

    Call inside a transaction kept open for the trial. `FOR KEY SHARE` blocks `recover_orphan`'s `FOR UPDATE SKIP
    LOCKED` (it skips the run) and not the run's own claim, steps and finish, whose updates change no key. If
    `zaps run` dies, its connection closes, the hold goes, and the run is recovered like any stuck run."""
    await conn.execute("SELECT id FROM zaps_run WHERE id = %s FOR KEY SHARE", (run_id,))


async def no_alert(conn: Conn, run_id: int) -> None:
    """A failed trial is for the person who ran it, who sees the error: it is not listed in the dead-run alert."""
    await conn.execute("UPDATE zaps_run SET alert_pending = false WHERE id = %s", (run_id,))
