"""PostgreSQL access: one psycopg 3 async pool per process, shared by the app, the queue and the engine."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

DictConnection = psycopg.AsyncConnection[dict[str, Any]]
T = TypeVar("T")
logger = logging.getLogger(__name__)

# Pauses between tries of a short transaction that met a transient error: about 3.5 s in all, longer than a lock
# held by a typical transaction and than a pool's reconnect after a killed connection, short enough for a job.
TRANSIENT_PAUSES_S = (0.1, 0.3, 0.8, 2.0)


def is_transient(error: BaseException) -> bool:
    """An error another try of the same transaction can get past: a lock or statement timeout, a deadlock or
    serialization failure, a connection killed or refused, no pooled connection free in time (all of these are
    psycopg's OperationalError), or a connection found closed (InterfaceError)."""
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


# SQLSTATEs that say the server could not be reached or went away (class 08, and the shutdown codes of 57P),
# unlike a lock timeout or a deadlock, which a reachable server reports.
_GONE_STATES = ("08", "57P01", "57P02", "57P03")


def is_unreachable(error: BaseException) -> bool:
    """The database could not be reached (refused, dropped, shutting down, no pooled connection in time). An error
    wrapping one of these (procrastinate's ConnectorException) counts too."""
    if error.__cause__ is not None and is_unreachable(error.__cause__):
        return True
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = error.sqlstate
    return state is None or state.startswith(_GONE_STATES)


class Reachability:
    """Since when this process has reached the database without a break: the grace before anyone is judged dead.

    While the database is away no worker can write its heartbeat, so a silence that began during an outage proves
    nothing; housekeeping and the worker's start-up prune wait until the database has answered for `stalled_after_s`
    before taking a silent worker for dead. A process does not know what happened before it started, so its start
    counts as a reconnection."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: float | None = clock()  # None while the database is unreachable

    def failed(self) -> None:
        self._since = None

    def succeeded(self) -> None:
        if self._since is None:
            self._since = self._clock()

    def reachable_for_s(self) -> float:
        """How long the database has answered without a break; 0 while it does not."""
        return 0.0 if self._since is None else self._clock() - self._since

    def observe(self, error: BaseException | None) -> None:
        """Account for how a use of the database ended: without error, or with `error`."""
        if error is None:
            self.succeeded()
        elif is_unreachable(error):
            self.failed()


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
        self.reachability = Reachability()
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
        try:
            async with self.pool.connection(timeout=timeout) as conn:
                conn.row_factory = dict_row
                yield cast(DictConnection, conn)
        except BaseException as error:
            self.reachability.observe(error)
            raise
        self.reachability.observe(None)

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


async def in_transaction_with_retries(
    database: Database, work: Callable[[DictConnection], Awaitable[T]], *, what: str
) -> T:
    """Run `work(conn)` in a transaction, again from the start after a transient error (up to five tries).

    Each try takes a fresh pooled connection, so a killed one is dropped, not reused. A transaction whose COMMIT
    was lost with its connection may have committed: `work` must be safe to do twice.
    """
    for pause in (*TRANSIENT_PAUSES_S, None):
        try:
            async with database.transaction() as conn:
                return await work(conn)
        except Exception as error:
            if pause is None or not is_transient(error):
                raise
            logger.warning(
                "transient database error; trying again",
                extra={"operation": what, "error": f"{type(error).__name__}: {error}"[:500], "retry_in_s": pause},
            )
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")  # the last pass returns or raises
