"""Small builders for the console's tests: automations, events, runs, attempts and steps written as the engine
writes them, and a signed-in client."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from zaps_console import passwords

PREFIX = "/console"
PASSWORD = "correct horse battery staple"
PASSWORD_HASH = passwords.hash_password(PASSWORD, n=2**10)  # the cheapest cost the format accepts: tests sign in often
HTML = {"accept": "text/html"}


def connect(database_url: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(database_url, row_factory=dict_row, autocommit=True)


def add_automation(
    database_url: str,
    name: str,
    *,
    trigger: dict[str, Any] | None = None,
    paused: bool = False,
    max_attempts: int = 3,
) -> None:
    service = name.split(".")[0]
    with connect(database_url) as conn:
        conn.execute(
            "INSERT INTO zaps_automation (name, service, source, trigger, max_attempts, paused) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (name, service, name, Jsonb(trigger or {"type": "webhook", "auth": "hmac"}), max_attempts, paused),
        )


def add_run(
    database_url: str,
    automation: str,
    status: str,
    *,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    created_at: datetime | None = None,
    error: str | None = None,
    filter_reason: str | None = None,
    steps: list[dict[str, Any]] | None = None,
    code_version: str = "abc1234",
) -> int:
    """One event and its run, with one attempt ending in `status` and the given steps (name, status, …)."""
    created = created_at or datetime.now(UTC)
    finished = created + timedelta(milliseconds=420) if status in ("succeeded", "filtered", "dead") else None
    started = created + timedelta(milliseconds=20) if status != "queued" else None
    with connect(database_url) as conn:
        event = conn.execute(
            "INSERT INTO zaps_event (source, dedup_key, payload, headers, received_at) "
            "VALUES (%s, gen_random_uuid()::text, %s, %s, %s) RETURNING id",
            (automation, Jsonb(payload if payload is not None else {}), Jsonb(headers or {}), created),
        ).fetchone()
        assert event is not None
        attempts = 0 if status in ("queued", "paused") else 1
        run = conn.execute(
            "INSERT INTO zaps_run (automation, event_id, status, attempts, max_attempts, error, filter_reason, "
            "code_version, created_at, started_at, finished_at) VALUES (%s, %s, %s, %s, 3, %s, %s, %s, %s, %s, %s) "
            "RETURNING id",
            (automation, event["id"], status, attempts, error, filter_reason, code_version, created, started, finished),
        ).fetchone()
        assert run is not None
        if attempts:
            conn.execute(
                "INSERT INTO zaps_attempt (run_id, number, started_at, finished_at, outcome, error, worker, "
                "code_version) VALUES (%s, 1, %s, %s, %s, %s, 'worker-1', %s)",
                (run["id"], started, finished, status if finished else None, error, code_version),
            )
        for step in steps or []:
            conn.execute(
                "INSERT INTO zaps_step (run_id, attempt, name, status, input, output, error, started_at, duration_ms) "
                "VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s)",
                (
                    run["id"],
                    step["name"],
                    step.get("status", "succeeded"),
                    Jsonb(step.get("input")),
                    Jsonb(step.get("output")),
                    step.get("error"),
                    started or created,
                    step.get("duration_ms", 12.5),
                ),
            )
    return int(run["id"])


def run_status(database_url: str, run_id: int) -> str:
    with connect(database_url) as conn:
        row = conn.execute("SELECT status FROM zaps_run WHERE id = %s", (run_id,)).fetchone()
    assert row is not None
    return str(row["status"])


def csrf_of(html: str) -> str:
    """The first form's CSRF token on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient,
    *,
    username: str = "admin",
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Open the sign-in page (its cookie and token), then post the form; returns the answer to the POST."""
    page = await client.get(f"{PREFIX}/login", headers=HTML)
    return await client.post(
        f"{PREFIX}/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "next": ""},
        headers={**HTML, **(headers or {})},
    )


async def page_token(client: httpx.AsyncClient, path: str = "/runs") -> str:
    """The CSRF token of the signed-in session, read from a page as a browser would."""
    return csrf_of((await client.get(f"{PREFIX}{path}", headers=HTML)).text)


def as_json(response: httpx.Response) -> Any:
    return json.loads(response.text)
