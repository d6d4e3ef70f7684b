"""No run stays stuck: real faults (a row lock held by another connection under a short lock_timeout, the
worker's connections terminated) against claiming and finishing runs, then a count of the runs left stuck.

A run is stuck when it is `queued`, `running` or `retrying` and no job will run it any more. Recovery bound (see
docs/automations.md): a run whose job failed or vanished is queued again by the next housekeeping pass, at most
`housekeeping_interval_s` later (0.5 s in these tests, 30 s by default).
"""

import asyncio
import time
from collections import Counter

import psycopg
from engine_service import service
from helpers import PREFIX, post_signed, query, runs_of
from psycopg import sql
from zaps.testing.apps import running
from zaps.testing.waiting import eventually

TOKEN = "admin-token-0123456789"
HOUSEKEEPING_S = 0.5
# The executor's tries of one claim or finish span about 3.2 s of pauses plus five lock timeouts of 0.2 s.
LONGER_THAN_THE_RETRIES_S = 6.0
RECOVERY_BOUND_S = HOUSEKEEPING_S + 5.0  # the bound, plus a run's own time on a loaded 2-core machine


def use_short_lock_timeout(database_url: str) -> None:
    """Every new connection to this test's database waits at most 200 ms for a lock, as a tuned production would."""
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET lock_timeout = '200ms'").format(sql.Identifier(name)))


class RowLocks:
    """Row locks on runs held by another real connection, as a long transaction elsewhere would hold them."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn

    @classmethod
    async def take(cls, database_url: str, where: str, *params: object) -> "RowLocks":
        conn = await psycopg.AsyncConnection.connect(database_url)
        await conn.execute(f"SELECT id FROM zaps_run WHERE {where} FOR UPDATE", params)
        return cls(conn)

    async def release(self) -> None:
        await self.conn.rollback()
        await self.conn.close()


def stuck(database_url: str) -> list[dict]:
    """Active runs that no job will run."""
    return query(
        database_url,
        """
        SELECT r.id, r.status FROM zaps_run r WHERE r.status IN ('queued', 'running', 'retrying')
        AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.task_name = 'zaps.run'
                        AND j.status IN ('todo', 'doing') AND (j.args ->> 'run_id')::bigint = r.id)
        """,
    )


def failed_jobs(database_url: str) -> int:
    return query(database_url, "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'failed'")[0]["n"]


async def ingest_orders(engine_settings, count: int) -> None:
    """Store `count` events and their queued runs, with no worker running yet."""
    async with running(service.create_app(engine_settings(run_worker=False))) as client:
        for n in range(count):
            assert (await post_signed(client, "forward", {"order": n})).status_code == 202


async def test_runs_whose_claim_meets_a_lock_past_its_retries_are_queued_again_and_none_stays_stuck(
    engine_settings, database_url, sink
):
    use_short_lock_timeout(database_url)
    await ingest_orders(engine_settings, 5)
    locks = await RowLocks.take(database_url, "automation = %s", "enginetest.forward")
    async with running(service.create_app(engine_settings(housekeeping_interval_s=HOUSEKEEPING_S))):
        # Each claim meets the lock, tries again for about 4 s, and its job fails: the fault of issue 10.
        await eventually(lambda: asyncio.to_thread(failed_jobs, database_url), lambda n: n == 5, timeout=40)
        assert [r["status"] for r in runs_of(database_url, "enginetest.forward")] == ["queued"] * 5
        await asyncio.sleep(LONGER_THAN_THE_RETRIES_S - 4.0)
        released = time.monotonic()
        await locks.release()
        runs = await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: all(r["status"] == "succeeded" for r in runs),
            timeout=RECOVERY_BOUND_S,
        )
        recovered_in = time.monotonic() - released
    assert len(stuck(database_url)) == 0
    assert recovered_in < RECOVERY_BOUND_S
    assert [r["recoveries"] for r in runs] == [1] * 5
    assert len(sink.to("/deliver")) == 5


async def test_a_claim_that_meets_a_short_lock_tries_again_and_its_job_never_fails(engine_settings, database_url, sink):
    use_short_lock_timeout(database_url)
    await ingest_orders(engine_settings, 5)
    locks = await RowLocks.take(database_url, "automation = %s", "enginetest.forward")
    async with running(service.create_app(engine_settings())):
        await asyncio.sleep(1.0)  # the claims are retrying meanwhile
        await locks.release()
        runs = await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: all(r["status"] == "succeeded" for r in runs),
        )
    assert failed_jobs(database_url) == 0
    assert [r["recoveries"] for r in runs] == [0] * 5
    assert len(sink.to("/deliver")) == 5


async def test_replay_acts_on_a_stuck_run(engine_settings, database_url, sink):
    use_short_lock_timeout(database_url)
    await ingest_orders(engine_settings, 2)
    locks = await RowLocks.take(database_url, "automation = %s", "enginetest.forward")
    # Housekeeping once at start, then not for an hour: only replay can get these runs going.
    app = service.create_app(engine_settings(admin_token=TOKEN, housekeeping_interval_s=3600))
    async with running(app) as client:
        await eventually(lambda: asyncio.to_thread(failed_jobs, database_url), lambda n: n == 2, timeout=40)
        await locks.release()
        await asyncio.sleep(1.0)
        assert len(stuck(database_url)) == 2  # nothing else moves them
        ids = [r["id"] for r in runs_of(database_url, "enginetest.forward")]
        answer = await client.post(
            f"{PREFIX}/admin/runs/replay", json={"run_ids": ids}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        runs = await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: all(r["status"] == "succeeded" for r in runs),
        )
    assert answer.status_code == 200
    assert answer.json() == {"queued": ids, "refused": {}}
    assert len(runs) == 2 and len(stuck(database_url)) == 0


async def test_a_live_run_is_still_refused_by_replay(engine_settings, database_url):
    app = service.create_app(engine_settings(admin_token=TOKEN, run_worker=False))
    async with running(app) as client:
        await post_signed(client, "forward", {"order": 1})
        (run,) = runs_of(database_url, "enginetest.forward")
        answer = await client.post(
            f"{PREFIX}/admin/runs/replay", json={"run_ids": [run["id"]]}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert answer.json()["refused"] == {str(run["id"]): "run is queued (its job is still at work)"}


async def test_a_scheduled_run_stuck_by_a_failed_finish_does_not_skip_later_ticks(engine_settings, database_url):
    use_short_lock_timeout(database_url)
    settings = engine_settings(tick_cron="* * * * * *", slow_seconds=1.0, housekeeping_interval_s=HOUSEKEEPING_S)
    async with running(service.create_app(settings)):
        (first, *_) = await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.ticking"),
            lambda runs: bool(runs) and runs[0]["status"] == "running",
        )
        # Its handler sleeps 1 s; then finishing it meets this lock until the finish gives up and the job fails.
        locks = await RowLocks.take(database_url, "id = %s", first["id"])
        await eventually(lambda: asyncio.to_thread(failed_jobs, database_url), lambda n: n == 1, timeout=20)
        (stuck_run,) = stuck(database_url)
        assert stuck_run == {"id": first["id"], "status": "running"}
        fired_while_stuck = await eventually(
            lambda: asyncio.to_thread(fired_after, database_url, first["id"]), lambda n: n >= 1, timeout=5
        )
        released = time.monotonic()
        await locks.release()
        await eventually(
            lambda: asyncio.to_thread(query, database_url, "SELECT status FROM zaps_run WHERE id = %s", first["id"]),
            lambda rows: rows[0]["status"] == "succeeded",
            timeout=RECOVERY_BOUND_S,
        )
        recovered_in = time.monotonic() - released
        await asyncio.sleep(1.5)
        still_stuck = stuck(database_url)
    assert fired_while_stuck >= 1
    assert recovered_in < RECOVERY_BOUND_S
    assert still_stuck == []


def fired_after(database_url: str, run_id: int) -> int:
    """Ticks that fired a run after run `run_id` was made."""
    rows = query(
        database_url,
        "SELECT count(*) AS n FROM zaps_run WHERE automation = 'enginetest.ticking' AND id > %s",
        run_id,
    )
    return int(rows[0]["n"])


async def test_runs_survive_their_worker_s_connections_being_terminated(engine_settings, database_url):
    settings = engine_settings(tick_cron="* * * * * *", slow_seconds=1.5, housekeeping_interval_s=HOUSEKEEPING_S)
    async with running(service.create_app(settings)):
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.ticking"),
            lambda runs: bool(runs) and runs[0]["status"] == "running",
        )
        killed = 0
        for _ in range(3):  # while the handlers sleep: their finish then draws a dead pooled connection
            rows = query(
                database_url,
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'enginetest'",
            )
            killed += rows[0]["n"]
            await asyncio.sleep(1.2)
        await asyncio.sleep(RECOVERY_BOUND_S)
        runs = runs_of(database_url, "enginetest.ticking")
        still_stuck = stuck(database_url)
    assert killed >= 3
    assert still_stuck == []
    statuses = Counter(r["status"] for r in runs)
    assert statuses["succeeded"] >= 3
    assert set(statuses) <= {"succeeded", "running", "queued"}
