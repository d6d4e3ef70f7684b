"""PostgreSQL access: one psycopg 3 async pool per process, shared by the app, the queue and the engine."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

DictConnection = psycopg.AsyncConnection[dict[str, Any]]


async def _autocommit(conn: psycopg.AsyncConnection[Any]) -> None:
    # Set per connection rather than as a connect() argument: procrastinate opens its LISTEN connection with the
    # pool's arguments plus its own autocommit=True, and a duplicate argument would break it.
    await conn.set_autocommit(True)
    # Our queries are short index probes; compiling them (JIT) cost the console's overview 11 ms a request.
    await conn.execute("SET jit = off")


class Database:
    """Owns the pool. `connection()` lends an autocommit connection: each statement is its own transaction, one
    round trip (the webhook path is one statement). `transaction()` lends one inside a transaction."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, name: str = "zaps") -> None:
        self.url = url
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            name=name,
            timeout=5.0,  # a request waiting longer than this for a connection gets a 503, not a hang
            # No check round trip before each use (it cost a sixth of the webhook path's time). A connection that
            # died while idle fails its next statement and the pool drops it; `ping` retries once for that case.
            max_idle=60,
            reconnect_timeout=0,  # keep trying for ever: the database may be down for a while
            kwargs={"connect_timeout": 3, "application_name": name},
            configure=_autocommit,
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[DictConnection]:
        async with self.pool.connection(timeout=timeout) as conn:
            conn.row_factory = dict_row
            yield cast(DictConnection, conn)

    @asynccontextmanager
    async def transaction(self, timeout: float | None = None) -> AsyncIterator[DictConnection]:
        """A connection inside a transaction: committed on a clean exit, rolled back on an exception."""
        async with self.connection(timeout) as conn, conn.transaction():
            yield conn

    async def ping(self, timeout: float = 2.0) -> float:
        """Round trip `SELECT 1`; returns the latency in milliseconds or raises.

        A second try on a failure: the first may have drawn a connection left broken by a database restart (the
        pool then drops it), and readiness should say whether the database answers now.
        """
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                async with self.connection(timeout=timeout) as conn:
                    await conn.execute("SELECT 1")
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                continue
            return (time.perf_counter() - started) * 1000
        raise AssertionError("unreachable")
