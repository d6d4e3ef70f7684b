"""What the scheduler has done and will do: each cron job with its last tick, last outcome and next tick."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from zaps.context import Runtime

_LAST_RUN = """
SELECT d.defer_timestamp AS tick, j.status::text AS status, j.attempts,
       (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'started') AS started_at,
       (SELECT max(e.at) FROM procrastinate_events e
         WHERE e.job_id = j.id AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS finished_at
FROM procrastinate_periodic_defers d
LEFT JOIN procrastinate_jobs j ON j.id = d.job_id
WHERE d.task_name = %s AND d.periodic_id = %s
ORDER BY d.defer_timestamp DESC
LIMIT 1
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def describe_jobs(runtime: Runtime) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    jobs = []
    async with runtime.database.connection() as conn:
        for job in runtime.service.jobs:
            cursor = await conn.execute(_LAST_RUN, (job.task_name, job.name))
            row = await cursor.fetchone()
            next_tick = croniter(job.cron, now).get_next(datetime)
            last = None
            if row is not None:
                last = {
                    "tick": datetime.fromtimestamp(row["tick"], UTC).isoformat(),
                    "status": row["status"],
                    "attempts": row["attempts"],
                    "started_at": _iso(row["started_at"]),
                    "finished_at": _iso(row["finished_at"]),
                }
            jobs.append(
                {
                    "name": job.name,
                    "cron": job.cron,
                    "timezone": "UTC",
                    "last_run": last,
                    "next_run": next_tick.isoformat(),
                }
            )
    return jobs
