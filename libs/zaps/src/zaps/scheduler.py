"""What the scheduler has done and will do: each schedule and poll with its last tick, last outcome and next tick."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zaps.context import Runtime
from zaps.engine import timers_repository
from zaps.settings import SettingsT


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def describe_timers(runtime: Runtime[SettingsT]) -> list[dict[str, Any]]:
    """The engine's schedules and polls: when each last ran, how it went, and when it is due next."""
    async with runtime.database.connection() as conn:
        timers = await timers_repository.schedules_and_polls(conn, runtime.service.name)
    return [
        {
            "name": timer.name,
            "kind": timer.kind,
            "last_run": _iso(timer.last_started_at),
            "last_ok": _iso(timer.last_ok_at),
            "last_tick": timer.last_tick,
            "last_error": timer.last_error,
            "next_run": _iso(timer.next_due_at),
        }
        for timer in timers
    ]
