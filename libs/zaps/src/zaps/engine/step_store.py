"""Where `Run.step` keeps the idempotency ledger and the step records: PostgreSQL for every real run, memory for
`zaps.testing.try_handler`.

Both offer what `Run` calls, with the same names and meaning as `engine.repository`'s functions, so a handler tried
in memory goes through the very `Run.step` code (begin, done, not done, unsure, resend, record) a worker runs. The
handle that `transaction()` and `connection()` lend is opaque to `Run`: it passes it back to the store's own
functions, unread (a connection for PostgreSQL, nothing for memory).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from zaps.db import Database
from zaps.engine import repository
from zaps.engine.repository import LedgerEntry
from zaps.engine.statuses import LedgerStatus, StepStatus


class StepStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    def connection(self) -> AbstractAsyncContextManager[Any]: ...

    async def ledger_begin(self, conn: Any, *, automation: str, event_id: int, step: str, key: str) -> LedgerEntry: ...

    async def ledger_resend(self, conn: Any, *, key: str) -> None: ...

    async def ledger_started_at(self, conn: Any, *, key: str) -> datetime | None: ...

    async def ledger_complete(self, conn: Any, *, key: str, output: Any, resolution: str | None = None) -> None: ...

    async def ledger_not_done(self, conn: Any, *, key: str) -> None: ...

    async def ledger_unsure(self, conn: Any, *, key: str) -> None: ...

    async def record_step(
        self,
        conn: Any,
        *,
        run_id: int,
        attempt: int,
        name: str,
        status: StepStatus,
        input: Any,
        output: Any,
        error: str | None,
        duration_ms: float,
    ) -> None: ...


class PostgresSteps:
    """The ledger and the step records in the service's database (`zaps_ledger`, `zaps_step`)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def transaction(self) -> AbstractAsyncContextManager[repository.Conn]:
        return self.database.transaction()

    def connection(self) -> AbstractAsyncContextManager[repository.Conn]:
        return self.database.connection()

    ledger_begin = staticmethod(repository.ledger_begin)
    ledger_resend = staticmethod(repository.ledger_resend)
    ledger_started_at = staticmethod(repository.ledger_started_at)
    ledger_complete = staticmethod(repository.ledger_complete)
    ledger_not_done = staticmethod(repository.ledger_not_done)
    ledger_unsure = staticmethod(repository.ledger_unsure)
    record_step = staticmethod(repository.record_step)


@dataclass
class MemoryLedgerRow:
    automation: str
    event_id: int
    step: str
    status: LedgerStatus
    tries: int
    started_at: datetime
    output: Any = None
    completed_at: datetime | None = None
    resolution: str | None = None


@dataclass
class MemorySteps:
    """The same rules as `repository`'s ledger SQL, in dictionaries: one process, no database. Not durable and not
    shared between processes, which is all a unit test needs (it is why the engine never uses it)."""

    ledger: dict[str, MemoryLedgerRow] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield None  # one event loop, no await between a store's reads and writes: nothing to isolate

    def connection(self) -> AbstractAsyncContextManager[None]:
        return self.transaction()

    async def ledger_begin(self, conn: Any, *, automation: str, event_id: int, step: str, key: str) -> LedgerEntry:
        row = self.ledger.get(key)
        if row is None:
            self.ledger[key] = MemoryLedgerRow(automation, event_id, step, LedgerStatus.STARTED, 1, _now())
            return LedgerEntry("go", tries=1)
        if row.status == LedgerStatus.SUCCEEDED:
            return LedgerEntry("done", output=copy.deepcopy(row.output), started_at=row.started_at, tries=row.tries)
        if row.status == LedgerStatus.NOT_DONE:
            await self.ledger_resend(conn, key=key)
            return LedgerEntry("go", tries=row.tries)
        return LedgerEntry("unsure", started_at=row.started_at, tries=row.tries)

    async def ledger_resend(self, conn: Any, *, key: str) -> None:
        if row := self.ledger.get(key):
            row.status, row.started_at, row.tries = LedgerStatus.STARTED, _now(), row.tries + 1

    async def ledger_started_at(self, conn: Any, *, key: str) -> datetime | None:
        row = self.ledger.get(key)
        return row.started_at if row else None

    async def ledger_complete(self, conn: Any, *, key: str, output: Any, resolution: str | None = None) -> None:
        if row := self.ledger.get(key):
            row.status, row.output, row.completed_at = LedgerStatus.SUCCEEDED, copy.deepcopy(output), _now()
            row.resolution = resolution or row.resolution

    async def ledger_not_done(self, conn: Any, *, key: str) -> None:
        if row := self.ledger.get(key):
            row.status = LedgerStatus.NOT_DONE

    async def ledger_unsure(self, conn: Any, *, key: str) -> None:
        if row := self.ledger.get(key):
            row.status = LedgerStatus.UNSURE

    async def record_step(
        self,
        conn: Any,
        *,
        run_id: int,
        attempt: int,
        name: str,
        status: StepStatus,
        input: Any,
        output: Any,
        error: str | None,
        duration_ms: float,
    ) -> None:
        self.steps.append(
            {
                "run_id": run_id,
                "attempt": attempt,
                "name": name,
                "status": str(status),
                "input": copy.deepcopy(input),
                "output": copy.deepcopy(output),
                "error": error,
                "started_at": _now(),
                "duration_ms": duration_ms,
            }
        )


def _now() -> datetime:
    return datetime.now(UTC)
