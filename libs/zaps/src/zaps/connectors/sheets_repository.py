"""The Sheets connector's one query: a lock that makes two upserts of one key take turns."""

from __future__ import annotations

from zaps.engine.repository import Conn


async def lock_row_key(conn: Conn, name: str) -> None:
    """Held until `conn`'s transaction ends; the name is hashed to the 64-bit key PostgreSQL locks on."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))
