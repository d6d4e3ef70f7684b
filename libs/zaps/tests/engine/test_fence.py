"""A claim fences its execution: once a later claim (its worker was taken for dead while it still ran) or a replay
took the run over, the earlier execution's finish is refused, so it can never overwrite the newer outcome."""

from helpers import add_automation, connect, query
from zaps.engine import repository
from zaps.engine.statuses import RunStatus

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
