"""PostgreSQL access: one psycopg 3 async pool per process, shared by the app, the queue and the engine."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


class Database:
    """Owns the pool. `connection()` lends a connection; the pool commits on a clean exit and rolls back otherwise."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, name: str = "zaps") -> None:
        self.url = url
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            name=name,
            timeout=5.0,  # a request waiting longer than this for a connection gets a 503, not a hang
            # A connection that died while idle (database restart, network blip) is replaced before use, so
            # readiness recovers by itself when the database comes back.
            check=AsyncConnectionPool.check_connection,
            reconnect_timeout=0,  # keep trying for ever: the database may be down for a while
            kwargs={"connect_timeout": 3, "application_name": name},
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[psycopg.AsyncConnection[dict]]:  # type: ignore[type-arg]
        async with self.pool.connection(timeout=timeout) as conn:
            conn.row_factory = dict_row  # type: ignore[assignment]
            yield conn  # type: ignore[misc]

    async def ping(self, timeout: float = 2.0) -> float:
        """Round trip `SELECT 1`; returns the latency in milliseconds or raises."""
        started = time.perf_counter()
        async with self.connection(timeout=timeout) as conn:
            await conn.execute("SELECT 1")
        return (time.perf_counter() - started) * 1000
