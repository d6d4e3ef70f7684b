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


_TIMERS = """
SELECT t.name, t.kind, t.next_due_at, t.last_started_at, t.last_ok_at, t.last_error, t.last_error_at,
       (SELECT row_to_json(k) FROM (SELECT tick_at, outcome FROM zaps_tick WHERE automation = t.name
                                    ORDER BY tick_at DESC LIMIT 1) k) AS last_tick
FROM zaps_timer t WHERE t.service = %s AND t.kind IN ('schedule', 'poll') ORDER BY t.name
"""


async def describe_timers(runtime: Runtime) -> list[dict[str, Any]]:
    """The engine's schedules and polls: when each last ran, how it went, and when it is due next."""
    async with runtime.database.connection() as conn:
        cursor = await conn.execute(_TIMERS, (runtime.service.name,))
        rows = await cursor.fetchall()
    return [
        {
            "name": row["name"],
            "kind": row["kind"],
            "last_run": _iso(row["last_started_at"]),
            "last_ok": _iso(row["last_ok_at"]),
            "last_tick": row["last_tick"],
            "last_error": row["last_error"],
            "next_run": _iso(row["next_due_at"]),
        }
        for row in rows
    ]


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
