"""The in-process worker restarts after it stops: its pause grows while it keeps failing at once, and goes back to
the first pause after it has run for a while, so one later blip does not leave jobs waiting for the longest pause.

And a stopping worker keeps its heartbeat while it waits for the jobs it is running, so no one takes it for dead and
runs those jobs a second time at once."""

import asyncio
import logging
import time
from typing import Any

import procrastinate
import psycopg
import pytest
from procrastinate.worker import Worker
from zaps import app as zaps_app
from zaps.app import RestartPause, run_keeping_heartbeat, run_worker
from zaps.settings import ZapsSettings


@pytest.mark.parametrize(
    ("ran_for_s", "pauses"),
    [
        ([0, 0, 0, 0, 0, 0, 0], [1, 2, 4, 8, 16, 30, 30]),
        ([0, 0, 0, 0, 0, 10, 0], [1, 2, 4, 8, 16, 1, 2]),
        ([0, 0, 0, 9.9, 0], [1, 2, 4, 8, 16]),
        ([60, 60, 60], [1, 1, 1]),
    ],
)
def test_the_pause_doubles_while_failing_and_resets_after_a_healthy_run(ran_for_s, pauses):
    pause = RestartPause(first_s=1, longest_s=30, healthy_after_s=10)

    assert [pause.after_stop(ran) for ran in ran_for_s] == pauses


class FlakyQueue:
    """A queue whose worker fails at once `fail_first` times, then runs `healthy_for_s` before failing, then fails
    at once again; each start's time is recorded."""

    def __init__(self, *, fail_first: int, healthy_for_s: float) -> None:
        self.fail_first, self.healthy_for_s = fail_first, healthy_for_s
        self.starts: list[float] = []

    async def run_worker_async(self, **options: Any) -> None:
        self.starts.append(time.monotonic())
        if len(self.starts) == self.fail_first + 1:
            await asyncio.sleep(self.healthy_for_s)
        raise ConnectionError("server closed the connection unexpectedly")


class StandInService:
    queues = ["default"]

    def __init__(self, queue: FlakyQueue) -> None:
        self.queue = queue


async def test_the_worker_restarts_at_full_speed_after_it_ran_again(make_settings, caplog, monkeypatch):
    queue = FlakyQueue(fail_first=5, healthy_for_s=0.3)
    monkeypatch.setattr(zaps_app, "run_queue_worker", lambda q, **options: q.run_worker_async(**options))
    pause = RestartPause(first_s=0.02, longest_s=0.16, healthy_after_s=0.25)
    settings = make_settings(ZapsSettings, run_worker=False)

    with caplog.at_level(logging.ERROR, logger="zaps.app"):
        worker = asyncio.create_task(run_worker(StandInService(queue), settings, pause=pause))  # type: ignore[arg-type]
        while len(queue.starts) < 8:
            await asyncio.sleep(0.01)
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    announced = [record.retry_in_s for record in caplog.records if hasattr(record, "retry_in_s")]
    assert announced[:7] == [0.02, 0.04, 0.08, 0.16, 0.16, 0.02, 0.04]
    gaps = [later - earlier for earlier, later in zip(queue.starts, queue.starts[1:], strict=False)]
    # After the healthy run (the sixth start, 0.3 s), the next start comes after the first pause, not the longest.
    assert gaps[5] - 0.3 < 0.12
    assert gaps[4] >= 0.16


HEARTBEAT_S = 0.2
STALLED_AFTER_S = 1.0
JOB_S = 3.0  # several times STALLED_AFTER_S: the job outlasts what a silent worker would be allowed


def worker_rows(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT id, last_heartbeat, now() AS now FROM procrastinate_workers").fetchall()


@pytest.mark.parametrize("keeper", [True, False], ids=["kept", "procrastinate-alone"])
async def test_a_stopping_worker_keeps_its_heartbeat_while_its_jobs_run(database_url, keeper):
    """procrastinate's worker, asked to stop (as when its heartbeat fails on a database error), ends its heartbeat
    first and then waits for its running job. Kept: the heartbeat goes on until the job ends, so the job is never
    stalled. procrastinate alone (the control): the heartbeat stops and the still-running job counts as stalled."""
    queue = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=database_url))
    ended: list[float] = []

    @queue.task(name="sleepy", queue="fence")
    async def sleepy() -> None:
        await asyncio.sleep(JOB_S)
        ended.append(time.monotonic())

    async with queue.open_async():
        worker = Worker(
            app=queue,
            queues=["fence"],
            install_signal_handlers=False,
            fetch_job_polling_interval=0.1,
            shutdown_graceful_timeout=30,
            update_heartbeat_interval=HEARTBEAT_S,
            stalled_worker_timeout=STALLED_AFTER_S,
        )
        job_id = await sleepy.defer_async()
        run = asyncio.create_task(run_keeping_heartbeat(worker) if keeper else worker.run())
        while not worker._running_jobs:  # the job has started
            await asyncio.sleep(0.02)
        worker.stop()
        stopped = time.monotonic()

        heartbeat_ages: list[float] = []
        stalled_seen: set[int] = set()
        while not ended:
            (row,) = await asyncio.to_thread(worker_rows, database_url)
            heartbeat_ages.append((row["now"] - row["last_heartbeat"]).total_seconds())
            stalled = await queue.job_manager.get_stalled_jobs(queue="fence", seconds_since_heartbeat=STALLED_AFTER_S)
            stalled_seen |= {job.id for job in stalled if job.id is not None}
            await asyncio.sleep(0.1)
        await asyncio.wait_for(run, timeout=5)

    assert ended[0] - stopped > 2 * STALLED_AFTER_S  # the wait for the job outlasted the stalled limit
    assert await asyncio.to_thread(worker_rows, database_url) == []  # unregistered once the job ended
    if keeper:
        assert max(heartbeat_ages) < STALLED_AFTER_S / 2, heartbeat_ages  # fresh all through the shutdown wait
        assert stalled_seen == set()  # housekeeping would never have queued it again
    else:
        assert max(heartbeat_ages) > STALLED_AFTER_S  # the bug: silent while its job still ran…
        assert stalled_seen == {job_id}  # …so housekeeping would have run it a second time at once
