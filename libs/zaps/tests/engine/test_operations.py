"""Operating runs through `zaps.engine.operations`: replay (one run, a selection), pause and resume, send again and
mark as done. Each commits its work and wakes the workers of the queues that got jobs."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import add_automation, connect, query
from zaps.engine import operations, repository
from zaps.engine.statuses import LedgerStatus, RunStatus
from zaps.testing.wakeups import listening

AUTOMATION = "ops.deliver"  # add_automation's default
QUEUE = "ops.events"  # the queue of its service, "ops"
STALLED_AFTER_S = 30.0


def add_run(
    database_url: str,
    status: RunStatus,
    *,
    automation: str = AUTOMATION,
    created_ago_s: float = 60.0,
    attempts: int = 2,
    max_attempts: int = 2,
) -> int:
    """An event and its run in `status`, started `created_ago_s` ago and (if finished) ended just now."""
    created = datetime.now(UTC) - timedelta(seconds=created_ago_s)
    event = query(
        database_url,
        "INSERT INTO zaps_event (source, dedup_key, payload, received_at) "
        "VALUES (%s, gen_random_uuid()::text, '{}', %s) RETURNING id",
        automation,
        created,
    )[0]
    run = query(
        database_url,
        "INSERT INTO zaps_run (automation, event_id, status, attempts, max_attempts, error, created_at, "
        "started_at, finished_at) VALUES (%s, %s, %s, %s, %s, 'boom', %s, %s, now()) RETURNING id",
        automation,
        event["id"],
        status,
        attempts,
        max_attempts,
        created,
        created,
    )[0]
    return int(run["id"])


def run_row(database_url: str, run_id: int) -> dict[str, Any]:
    return query(database_url, "SELECT * FROM zaps_run WHERE id = %s", run_id)[0]


def jobs_of(database_url: str) -> list[dict[str, Any]]:
    return query(
        database_url,
        "SELECT queue_name, (args ->> 'run_id')::bigint AS run_id FROM procrastinate_jobs WHERE status = 'todo' "
        "ORDER BY id",
    )


async def test_a_replayed_run_starts_afresh_and_its_workers_are_woken(database_url):
    add_automation(database_url, max_attempts=4)
    run_id = add_run(database_url, RunStatus.DEAD, attempts=2, max_attempts=2)
    async with listening(database_url, QUEUE) as wakeups, connect(database_url) as conn:
        replayed = await operations.replay(conn, [run_id], stalled_after_s=STALLED_AFTER_S)
        heard = await wakeups.heard()
    assert replayed.queued == [run_id] and replayed.refused == {}
    assert heard == [f"procrastinate_queue_v1#{QUEUE}"]
    assert jobs_of(database_url) == [{"queue_name": QUEUE, "run_id": run_id}]
    run = run_row(database_url, run_id)
    # Nothing of the first execution is left to make the next one look long or late: the duration shown after it
    # is its own, and its attempts count up to the automation's current limit.
    assert run["status"] == RunStatus.QUEUED
    assert (run["started_at"], run["finished_at"], run["error"]) == (None, None, None)
    assert (run["attempts"], run["max_attempts"]) == (0, 4)


async def test_a_run_still_at_work_is_refused_and_an_unknown_one_named(database_url):
    add_automation(database_url)
    run_id = add_run(database_url, RunStatus.RUNNING)
    async with connect(database_url) as conn:
        async with conn.transaction():
            await repository.defer_runs(conn, [run_id])  # its job is still there to run it
        replayed = await operations.replay(conn, [run_id, 987654], stalled_after_s=STALLED_AFTER_S)
    assert replayed.queued == []
    assert replayed.refused == {run_id: "run is running (its job is still at work)", 987654: "no such run"}


async def test_a_selection_replays_the_runs_of_one_automation_in_one_status_the_oldest_first(database_url):
    add_automation(database_url)
    add_automation(database_url, "other.deliver")
    newer = add_run(database_url, RunStatus.DEAD, created_ago_s=60)
    older = add_run(database_url, RunStatus.DEAD, created_ago_s=600)
    too_old = add_run(database_url, RunStatus.DEAD, created_ago_s=7200)
    add_run(database_url, RunStatus.SUCCEEDED)
    add_run(database_url, RunStatus.DEAD, automation="other.deliver")
    async with listening(database_url, QUEUE, "other.events") as wakeups, connect(database_url) as conn:
        replayed = await operations.replay_selection(
            conn,
            automation=AUTOMATION,
            status=RunStatus.DEAD,
            since=datetime.now(UTC) - timedelta(hours=1),
            stalled_after_s=STALLED_AFTER_S,
        )
        heard = await wakeups.heard()
    assert replayed.queued == sorted([newer, older])
    assert [job["run_id"] for job in jobs_of(database_url)] == [older, newer]
    assert run_row(database_url, too_old)["status"] == RunStatus.DEAD
    assert heard == [f"procrastinate_queue_v1#{QUEUE}"]


async def test_pause_holds_new_runs_and_resume_queues_them_and_wakes_the_workers(database_url):
    add_automation(database_url)
    async with listening(database_url, QUEUE) as wakeups, connect(database_url) as conn:
        await operations.pause(conn, AUTOMATION)
        async with conn.transaction():
            ingested = await repository.ingest(conn, source=AUTOMATION, key="order-1", payload={"n": 1})
        held = run_row(database_url, ingested.run_ids[0])
        assert await wakeups.heard() == []
        resumed = await operations.resume(conn, AUTOMATION)
        heard = await wakeups.heard()
        with pytest.raises(operations.UnknownAutomation):
            await operations.pause(conn, "ops.nope")
    assert held["status"] == RunStatus.PAUSED
    assert resumed.queued == ingested.run_ids
    assert run_row(database_url, ingested.run_ids[0])["status"] == RunStatus.QUEUED
    assert heard == [f"procrastinate_queue_v1#{QUEUE}"]


def hold(database_url: str) -> int:
    """A run held for review, as a worker leaves it: its step `notify` sent, and unsure in the ledger."""
    run_id = add_run(database_url, RunStatus.NEEDS_REVIEW)
    query(
        database_url,
        "INSERT INTO zaps_ledger (automation, event_id, step, idempotency_key, status) "
        "SELECT automation, event_id, 'notify', automation || '/' || event_id || '/notify', 'unsure' "
        "FROM zaps_run WHERE id = %s RETURNING step",
        run_id,
    )
    return run_id


def ledger_of(database_url: str, run_id: int) -> dict[str, Any]:
    return query(
        database_url,
        "SELECT l.status, l.resolution FROM zaps_ledger l JOIN zaps_run r "
        "ON r.automation = l.automation AND r.event_id = l.event_id WHERE r.id = %s",
        run_id,
    )[0]


async def test_send_again_and_mark_done_settle_a_held_run_and_wake_the_workers(database_url):
    add_automation(database_url)
    again, done = hold(database_url), hold(database_url)
    dead = add_run(database_url, RunStatus.DEAD)
    async with listening(database_url, QUEUE) as wakeups, connect(database_url) as conn:
        sent = await operations.send_again(conn, again, by="a test")
        marked = await operations.mark_done(conn, done, by="a test")
        heard = await wakeups.heard()
        with pytest.raises(operations.NotHeld) as not_held:
            await operations.mark_done(conn, dead, by="a test")
        with pytest.raises(operations.NotHeld) as missing:
            await operations.send_again(conn, 987654, by="a test")
    assert (sent.queued, marked.queued) == ([again], [done])
    assert heard == [f"procrastinate_queue_v1#{QUEUE}"] * 2
    assert ledger_of(database_url, again) == {"status": LedgerStatus.NOT_DONE, "resolution": "send again by a test"}
    assert ledger_of(database_url, done) == {"status": LedgerStatus.SUCCEEDED, "resolution": "mark done by a test"}
    assert [run_row(database_url, run_id)["status"] for run_id in (again, done)] == [RunStatus.QUEUED] * 2
    assert (not_held.value.status, str(not_held.value)) == (RunStatus.DEAD, f"run {dead} is dead, not needs_review")
    assert (missing.value.status, str(missing.value)) == (None, "run 987654 does not exist")


async def test_an_operation_refuses_a_connection_inside_a_transaction(database_url):
    add_automation(database_url)
    run_id = add_run(database_url, RunStatus.DEAD)
    async with connect(database_url) as conn, conn.transaction():
        with pytest.raises(RuntimeError, match="outside any transaction"):
            await operations.replay(conn, [run_id], stalled_after_s=STALLED_AFTER_S)
