"""Small builders for the engine tests."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from zaps import signing

SECRET = "hook-secret-0123456789"
PREFIX = "/api/enginetest"


async def post_signed(
    client: httpx.AsyncClient,
    automation: str,
    payload: Any,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
    key: str | None = None,
) -> httpx.Response:
    """POST `payload` signed over its body (v1), or over its body and `key` (v2, which sends the key too)."""
    body = json.dumps(payload).encode()
    signed = signing.sign(secret, body, timestamp, idempotency_key=key)
    return await client.post(
        f"{PREFIX}/hooks/{automation}",
        content=body,
        headers={"content-type": "application/json", **signed, **(headers or {})},
    )


def query(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def runs_of(database_url: str, automation: str) -> list[dict[str, Any]]:
    return query(database_url, "SELECT * FROM zaps_run WHERE automation = %s ORDER BY id", automation)


def add_automation(database_url: str, name: str = "ops.deliver", *, max_attempts: int = 4) -> None:
    """An automation as a service registers it (a webhook; its service is the part of its name before the dot)."""
    query(
        database_url,
        "INSERT INTO zaps_automation (name, service, source, trigger, max_attempts) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING name",
        name,
        name.split(".")[0],
        name,
        Jsonb({"type": "webhook", "auth": "hmac"}),
        max_attempts,
    )


@asynccontextmanager
async def connect(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """An autocommit connection, as the operations want one (they commit their own work)."""
    async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        yield conn
