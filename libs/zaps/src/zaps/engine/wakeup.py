"""Wake the workers of a queue after new run jobs are committed: one NOTIFY for many jobs.

Run jobs are inserted without procrastinate's per-row NOTIFY (see migration 0003, which says why). After a commit
that queued runs, the code calls `Wakeup.request(queue)`; a background task sends one
`pg_notify('procrastinate_queue_v1#<queue>', …)` for everything requested since its last send. A worker that
misses it still finds the job at its next poll (`fetch_job_polling_interval`, one second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from zaps.engine import wakeup_repository

logger = logging.getLogger(__name__)

_PAYLOAD = '{"type": "job_inserted", "job_id": 0}'


def channel(queue: str) -> str:
    return "procrastinate_queue_v1#" + queue


async def notify(conn: Any, queues: Iterable[str]) -> None:
    """Send the wake-up now, on `conn` (outside any transaction that wrote data)."""
    for queue in sorted(set(queues)):
        await wakeup_repository.notify(conn, channel(queue), _PAYLOAD)


class Wakeup:
    def __init__(self, database: Any) -> None:
        self.database = database
        self._pending: set[str] = set()
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="zaps-wakeup")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def request(self, queue: str) -> None:
        self._pending.add(queue)
        self._wanted.set()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            queues, self._pending = self._pending, set()
            try:
                async with self.database.connection() as conn:
                    await notify(conn, queues)
            except Exception as error:  # the workers' poll finds the jobs anyway
                logger.warning("could not wake the workers", extra={"error": type(error).__name__})
