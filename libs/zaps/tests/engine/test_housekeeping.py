"""Housekeeping: old runs and events are pruned (dead ones kept longer), a silent trigger raises the dead-man's
switch once per window, a job that keeps killing its worker is parked with its run dead, and no worker is taken
for dead until the database has answered again for `stalled_after_s` after an outage."""

import asyncio
import time

import psycopg
import pytest
from engine_service import service
from helpers import post_signed, query, runs_of
from test_resilience_proxy import cut_database
from zaps.app import PRUNE_NEVER_S, prune_after_s
from zaps.db import Reachability, is_unreachable
from zaps.engine import housekeeping
from zaps.testing.apps import running
from zaps.testing.waiting import eventually


async def test_prune_keeps_dead_runs_longer_than_succeeded_ones(engine_settings, database_url, sink):
    sink.script(200, 400)
    app = service.create_app(engine_settings(run_retention_days=7, dead_retention_days=30))
    async with running(app) as client:
        await post_signed(client, "forward", {"n": 1})
        await post_signed(client, "forward", {"n": 2})
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: sorted(r["status"] for r in runs) == ["dead", "succeeded"],
        )
        async with app.state.runtime.database.connection() as conn:
            await conn.execute("UPDATE zaps_run SET created_at = now() - interval '10 days'")
            await conn.execute("UPDATE zaps_event SET received_at = now() - interval '10 days'")
        counts = await housekeeping.prune(app.state.runtime)
    assert counts == {"runs": 1, "events": 1}
    assert [r["status"] for r in runs_of(database_url, "enginetest.forward")] == ["dead"]
    assert query(database_url, "SELECT count(*) AS n FROM zaps_event")[0]["n"] == 1


async def test_a_silent_trigger_alerts_once_per_window(engine_settings, database_url, sink):
    app = service.create_app(engine_settings(run_worker=False))
    async with running(app):
        async with app.state.runtime.database.connection() as conn:
            await conn.execute("UPDATE zaps_automation SET registered_at = now() - interval '2 hours'")
        first = await housekeeping.check_silent_triggers(app.state.runtime)
        second = await housekeeping.check_silent_triggers(app.state.runtime)
    assert "enginetest.feed-items" in first  # declared silent_after=1h, no event for 2 h
    assert "enginetest.feed-items" in second  # still silent…
    alerts = [r.json for r in sink.to("/alerts") if r.json["automation"] == "enginetest.feed-items"]
    assert len(alerts) == 1  # …but one alert per window
    assert alerts[0]["kind"] == "silent_trigger"


async def test_a_job_that_stalls_too_often_is_parked_and_its_run_dead(engine_settings, database_url):
    app = service.create_app(engine_settings(run_worker=False, max_job_recoveries=2, stalled_after_s=1))
    async with running(app) as client:
        answer = await post_signed(client, "forward", {"n": 1})
        async with app.state.runtime.database.connection() as conn:
            # What a worker that died mid-job leaves behind: the job 'doing', owned by a worker with an old heartbeat.
            cursor = await conn.execute(
                "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id"
            )
            worker = (await cursor.fetchone())["id"]
            await conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", (worker,))
            await conn.execute("UPDATE zaps_run SET status = 'running', attempts = 1, recoveries = 2")
        await asyncio.sleep(1.0)  # the grace after (re)connecting: the database has answered for stalled_after_s
        await housekeeping.recover_stalled_jobs(app.state.runtime)
    (job,) = query(database_url, "SELECT status FROM procrastinate_jobs")
    assert job["status"] == "failed"
    (run,) = runs_of(database_url, "enginetest.forward")
    assert run["status"] == "dead"
    assert answer.status_code == 202


STALLED_S = 1.5


def leave_a_silent_worker_at_work(database_url: str) -> None:
    """What a worker leaves behind when it could not write its heartbeat for an hour: its job `doing`."""
    with psycopg.connect(database_url) as conn:
        (worker,) = conn.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id"
        ).fetchone()
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", (worker,))
        conn.execute("UPDATE zaps_run SET status = 'running', attempts = 1")


async def test_no_worker_is_taken_for_dead_until_the_database_has_answered_again_for_stalled_after_s(
    engine_settings, database_url
):
    """A real outage (the test's TCP proxy to PostgreSQL cut, then restored). During it no heartbeat can be written,
    so once the database is back, housekeeping and the worker's start-up prune wait `stalled_after_s` before judging
    a silent worker; then the run of the silent worker's job is queued again with a new job."""
    async with cut_database(database_url) as (proxy, url):
        settings = engine_settings(database_url=url, run_worker=False, stalled_after_s=STALLED_S)
        app = service.create_app(settings)
        async with running(app) as client:
            runtime = app.state.runtime
            reachability = runtime.database.reachability
            assert (await post_signed(client, "forward", {"n": 1})).status_code == 202
            await asyncio.to_thread(leave_a_silent_worker_at_work, database_url)

            await proxy.stop()
            with pytest.raises(psycopg.OperationalError):
                await runtime.database.ping(timeout=1)
            assert reachability.reachable_for_s() == 0
            assert prune_after_s(STALLED_S, reachability) == PRUNE_NEVER_S
            await proxy.start()
            await runtime.database.ping()
            back = time.monotonic()

            put_off = [
                await housekeeping.recover_stalled_jobs(runtime),
                await housekeeping.prune_silent_workers(runtime),
            ]
            assert put_off == [0, 0]  # the worker is an hour silent, but the database has been back for less
            assert prune_after_s(STALLED_S, reachability) == PRUNE_NEVER_S
            assert [job["status"] for job in query(database_url, "SELECT status FROM procrastinate_jobs")] == ["doing"]

            await asyncio.sleep(STALLED_S - (time.monotonic() - back) + 0.05)
            assert prune_after_s(STALLED_S, reachability) == STALLED_S
            judged = [
                await housekeeping.recover_stalled_jobs(runtime),
                await housekeeping.prune_silent_workers(runtime),
            ]
    assert judged == [1, 1]
    jobs = query(database_url, "SELECT status FROM procrastinate_jobs ORDER BY id")
    assert [job["status"] for job in jobs] == ["failed", "todo"]  # the run queued again, with a new job
    (run,) = runs_of(database_url, "enginetest.forward")
    assert (run["status"], run["recoveries"]) == ("queued", 1)


def test_reachability_counts_from_the_first_answer_after_the_last_failure_to_reach_the_database():
    now = [100.0]
    reachability = Reachability(clock=lambda: now[0])
    now[0] = 130.0
    assert reachability.reachable_for_s() == 30.0  # counted from the process's start
    reachability.observe(psycopg.errors.LockNotAvailable())
    assert reachability.reachable_for_s() == 30.0  # a lock timeout comes from a database that answers
    reachability.observe(psycopg.OperationalError("connection refused"))
    now[0] = 140.0
    reachability.observe(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert reachability.reachable_for_s() == 0.0
    reachability.observe(None)
    now[0] = 145.0
    reachability.observe(None)
    assert reachability.reachable_for_s() == 5.0
    assert not is_unreachable(psycopg.errors.QueryCanceled())
    assert is_unreachable(psycopg.errors.AdminShutdown())
