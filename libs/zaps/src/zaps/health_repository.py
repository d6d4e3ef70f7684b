"""The SQL of the readiness checks: how long ago each poller last succeeded."""

from __future__ import annotations

from datetime import datetime

from zaps.db import DictConnection


async def seconds_since_poll_ok(conn: DictConnection, source: str, *, default: datetime) -> float | None:
    """Seconds since the poller last succeeded (since `default` if it never has); None if it has no timer."""
    cursor = await conn.execute(
        "SELECT extract(epoch FROM now() - coalesce(last_ok_at, %s)) AS age FROM zaps_timer WHERE name = %s",
        (default, source),
    )
    row = await cursor.fetchone()
    return None if row is None else float(row["age"])
