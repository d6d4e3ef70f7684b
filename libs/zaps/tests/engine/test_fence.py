"""A claim fences its execution: once a later claim (its worker was taken for dead while it still ran), a replay, or
housekeeping queuing the run again took the run over, the earlier execution's finish is refused, so it can never
overwrite the newer outcome, and so is its next step, so it sends nothing more."""

import asyncio

import engine_service
from engine_service import service
from helpers import add_automation, connect, post_signed, query, runs_of
from zaps.engine import housekeeping, repository
from zaps.engine.statuses import RunStatus
from zaps.testing.apps import running
from zaps.testing.waiting import eventually

AUTOMATION = "ops.deliver"


async def claim(conn, run_id):
    async with conn.transaction():
        claimed = await repository.claim_run(conn, run_id, "worker-1", "abc1234")
    return claimed["attempts"], claimed["attempt_id"]


async def finish(conn, run_id, fence, status):
    async with conn.transaction():
        return await repository.finish_run(conn, run_id, status=status, fence=fence)


def status_of(database_url, run_id):
    return query(database_url, "SELECT status FROM zaps_run WHERE id = %s", run_id)[0]["status"]


async def test_a_stale_execution_cannot_overwrite_the_newer_ones_outcome(database_url):
    add_automation(database_url)
    async with connect(database_url) as conn:
        async with conn.transaction():
            run_id = (await repository.ingest(conn, source=AUTOMATION, key="order-1", payload={"n": 1})).run_ids[0]
        stale = await claim(conn, run_id)
        newer = await claim(conn, run_id)  # the job was queued again while the first execution still ran

        assert await finish(conn, run_id, newer, RunStatus.NEEDS_REVIEW)
        assert not await finish(conn, run_id, stale, RunStatus.SUCCEEDED)  # too late: refused
        assert status_of(database_url, run_id) == "needs_review"

        # And the other order: the stale finish comes first, while the newer execution still runs.
        async with conn.transaction():
            other = (await repository.ingest(conn, source=AUTOMATION, key="order-2", payload={"n": 2})).run_ids[0]
        stale = await claim(conn, other)
        newer = await claim(conn, other)
        assert not await finish(conn, other, stale, RunStatus.RETRYING)
        assert status_of(database_url, other) == "running"
        assert await finish(conn, other, newer, RunStatus.SUCCEEDED)
        assert status_of(database_url, other) == "succeeded"
        # Finishing again with its own fence (a retried commit) is still accepted.
        assert await finish(conn, other, newer, RunStatus.SUCCEEDED)
    attempts = query(database_url, "SELECT number, outcome FROM zaps_attempt WHERE run_id = %s ORDER BY id", other)
    assert attempts == [{"number": 1, "outcome": "crashed"}, {"number": 2, "outcome": "succeeded"}]


async def test_a_replay_fences_the_execution_it_replaced(database_url):
    add_automation(database_url)
    async with connect(database_url) as conn:
        async with conn.transaction():
            run_id = (await repository.ingest(conn, source=AUTOMATION, key="order-1", payload={"n": 1})).run_ids[0]
        stale = await claim(conn, run_id)  # attempt 1
        assert await finish(conn, run_id, stale, RunStatus.DEAD)
        async with conn.transaction():
            await repository.replay(conn, [run_id])
        again = await claim(conn, run_id)  # attempt 1 again after the replay: the number alone is not a fence
        assert again[0] == stale[0]
        assert not await finish(conn, run_id, stale, RunStatus.SUCCEEDED)
        assert status_of(database_url, run_id) == "running"
        assert await finish(conn, run_id, again, RunStatus.SUCCEEDED)


# --- the fence before each send: a stale execution, with a real worker, sink and database -------------------------


def jobs_of(database_url, run_id):
    return query(
        database_url,
        "SELECT id, status FROM procrastinate_jobs WHERE (args ->> 'run_id')::bigint = %s ORDER BY id",
        run_id,
    )


async def test_a_stale_execution_sends_nothing_once_the_run_was_claimed_again(
    engine_settings, database_url, sink, capfd
):
    """The worker running attempt 1 is taken for dead while it is alive (its heartbeat made old: what a database
    outage or a frozen process leaves). Housekeeping fails its job and queues the run with a new one; a second
    execution claims it and delivers. When the first reaches its step it is refused before sending: the receiver,
    which does not deduplicate, got the order once, the run's outcome is the second's, and the first's end of its
    job does not make the orphan pass queue the run a third time."""
    output: list[str] = []

    def logged() -> str:  # the service's log lines (JSON on stdout), so far
        output.append(capfd.readouterr().out)
        return "".join(output)

    gate = asyncio.Event()
    engine_service.GATES[("fence", 1)] = gate
    settings = engine_settings(
        stalled_after_s=1,
        worker_heartbeat_s=60,  # the keeper stays quiet: the heartbeat this test makes old stays old
        housekeeping_interval_s=3600,  # its passes are this test's own, below
    )
    app = service.create_app(settings)
    try:
        async with running(app) as client:
            runtime = app.state.runtime
            assert (await post_signed(client, "forward", {"order": 1, "gate": "fence"})).status_code == 202
            await eventually(lambda: asyncio.sleep(0, engine_service.ARRIVED), lambda got: ("fence", 1) in got)
            (run,) = runs_of(database_url, "enginetest.forward")
            await asyncio.sleep(1.0)  # past the grace: the database has answered this process for stalled_after_s
            await asyncio.to_thread(
                query,
                database_url,
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' RETURNING id",
            )
            assert await housekeeping.recover_stalled_jobs(runtime) == 1

            fresh = await eventually(
                lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
                lambda runs: runs[0]["status"] == "succeeded",
            )
            assert fresh[0]["attempts"] == 2
            assert len(sink.to("/deliver")) == 1  # the fresh execution delivered

            gate.set()  # the stale execution goes on to its step
            await eventually(lambda: asyncio.sleep(0, logged()), lambda said: "taken back by housekeeping" in said)
            for _ in range(3):  # the orphan pass finds nothing to queue
                assert await housekeeping.recover_orphaned_runs(runtime) == {"requeued": 0, "dead": 0}
                await asyncio.sleep(0.3)
    finally:
        engine_service.GATES.clear()
        engine_service.ARRIVED.clear()
    assert len(sink.to("/deliver")) == 1  # nothing sent by the stale execution
    (after,) = runs_of(database_url, "enginetest.forward")
    assert (after["status"], after["attempts"]) == ("succeeded", 2)
    assert [job["status"] for job in jobs_of(database_url, run["id"])] == ["failed", "succeeded"]
    steps = query(database_url, "SELECT attempt, name, status FROM zaps_step WHERE run_id = %s", run["id"])
    assert steps == [{"attempt": 2, "name": "deliver", "status": "succeeded"}]  # the stale one recorded nothing
    assert "this one stopped before sending" in logged()


async def test_a_run_queued_again_fences_its_execution_before_any_new_claim(database_url):
    """Between housekeeping queuing the run again and a newer claim, the old execution is already refused."""
    add_automation(database_url)
    async with connect(database_url) as conn:
        async with conn.transaction():
            run_id = (await repository.ingest(conn, source=AUTOMATION, key="order-1", payload={"n": 1})).run_ids[0]
        fence = await claim(conn, run_id)
        assert await repository.claim_is_current(conn, run_id, fence)
        async with conn.transaction():
            await conn.execute(
                "UPDATE procrastinate_jobs SET status = 'failed' WHERE (args ->> 'run_id')::bigint = %s", (run_id,)
            )
            assert await repository.recover_orphan(conn, run_id, max_recoveries=5) == "requeued"
        assert not await repository.claim_is_current(conn, run_id, fence)  # queued: no longer this execution's
        newer = await claim(conn, run_id)
        assert not await repository.claim_is_current(conn, run_id, fence)
        assert await repository.claim_is_current(conn, run_id, newer)
