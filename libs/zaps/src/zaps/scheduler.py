"""What the scheduler has done and will do: each schedule and poll with its last tick, last outcome and next tick."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zaps.context import Runtime
from zaps.settings import SettingsT


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_TIMERS = """
SELECT t.name, t.kind, t.next_due_at, t.last_started_at, t.last_ok_at, t.last_error, t.last_error_at,
       (SELECT row_to_json(k) FROM (SELECT tick_at, outcome FROM zaps_tick WHERE automation = t.name
                                    ORDER BY tick_at DESC LIMIT 1) k) AS last_tick
FROM zaps_timer t WHERE t.service = %s AND t.kind IN ('schedule', 'poll') ORDER BY t.name
"""


async def describe_timers(runtime: Runtime[SettingsT]) -> list[dict[str, Any]]:
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
