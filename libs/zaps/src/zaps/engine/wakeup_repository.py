"""The SQL of waking the workers: a NOTIFY on a queue's channel (`zaps.engine.wakeup` says when and why)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

# Not `zaps.engine.repository.Conn`: that module imports the automations, which import the runtime, which imports
# the wakeup, which imports this; the same type, without the import cycle.
Conn = AsyncConnection[Any]


async def notify(conn: Conn, channel: str, payload: str) -> None:
    """Send `payload` to whoever LISTENs on `channel`; delivered when the current transaction commits."""
    await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
