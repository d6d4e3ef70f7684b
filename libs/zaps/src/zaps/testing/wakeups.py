"""Did anyone wake the workers of a queue? A LISTEN on a real connection hears the NOTIFY that
`zaps.engine.wakeup` sends, so a test can prove an operation woke them (rather than leaving the job to the poll)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql

from zaps.engine.wakeup import channel


class Wakeups:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._heard: list[str] = []
        conn.add_notify_handler(lambda notify: self._heard.append(notify.channel))

    async def heard(self) -> list[str]:
        """The channels notified so far. A round trip first: libpq hands over the notifications that arrived
        while the connection was idle when it next reads from the server."""
        await self._conn.execute("SELECT 1")
        return list(self._heard)


@asynccontextmanager
async def listening(database_url: str, *queues: str) -> AsyncIterator[Wakeups]:
    """LISTEN for the wake-ups of these queues for the duration of the block."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        wakeups = Wakeups(conn)
        for queue in queues:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(queue))))
        yield wakeups
