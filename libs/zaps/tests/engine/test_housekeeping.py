"""Housekeeping: old runs and events are pruned (dead ones kept longer), a silent trigger raises the dead-man's
switch once per window, and a job that keeps killing its worker is parked with its run dead."""

import asyncio

from engine_service import service
from helpers import post_signed, query, runs_of
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
            await conn.execute(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s, attempts = 2", (worker,)
            )
        await housekeeping.recover_stalled_jobs(app.state.runtime)
    (job,) = query(database_url, "SELECT status FROM procrastinate_jobs")
    assert job["status"] == "failed"
    (run,) = runs_of(database_url, "enginetest.forward")
    assert run["status"] == "dead"
    assert answer.status_code == 202
