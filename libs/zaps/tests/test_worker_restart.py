"""The in-process worker restarts after it stops: its pause grows while it keeps failing at once, and goes back to
the first pause after it has run for a while, so one later blip does not leave jobs waiting for the longest pause."""

import asyncio
import logging
import time
from typing import Any

import pytest
from zaps.app import RestartPause, run_worker
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


async def test_the_worker_restarts_at_full_speed_after_it_ran_again(make_settings, caplog):
    queue = FlakyQueue(fail_first=5, healthy_for_s=0.3)
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
