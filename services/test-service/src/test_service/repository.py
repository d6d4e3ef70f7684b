"""The service's SQL: the probe rows of the database round trip, and the heartbeat's rows. Functions take an open
connection, so the caller decides the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zaps.db import DictConnection


@dataclass(frozen=True)
class Probe:
    id: int
    created_at: datetime
    server_version: str


async def write_probe(conn: DictConnection, service: str) -> int:
    """A new probe row; returns its id."""
    cursor = await conn.execute("INSERT INTO zaps_probe (service) VALUES (%s) RETURNING id", (service,))
    row = await cursor.fetchone()
    assert row is not None  # INSERT … RETURNING returns the row it wrote
    probe_id: int = row["id"]
    return probe_id


async def read_probe(conn: DictConnection, probe_id: int) -> Probe | None:
    """The probe row, and the server's version read in the same statement."""
    cursor = await conn.execute(
        "SELECT id, created_at, current_setting('server_version') AS version FROM zaps_probe WHERE id = %s",
        (probe_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return Probe(id=row["id"], created_at=row["created_at"], server_version=row["version"])


async def record_heartbeat(conn: DictConnection, *, service: str, job: str, tick_at: str, worker: str) -> None:
    """One heartbeat row; `tick_at` is the tick's ISO time, as the schedule's event carries it."""
    await conn.execute(
        "INSERT INTO zaps_heartbeat (service, job, tick_at, worker) VALUES (%s, %s, %s::timestamptz, %s)",
        (service, job, tick_at, worker),
    )
