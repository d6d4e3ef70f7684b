"""What an automation's handler receives: the event, and steps that go through the idempotency ledger.

async def handler(run: Run) -> None:
    if run.event.payload["total"] < 100:
        run.filter("order under 100")               # recorded as `filtered`, with the reason
    await run.webhook("notify-crm", url=..., payload={...})   # sent at most once per event, even on replay
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, TypeVar

from zaps.actions import Actions
from zaps.db import Database
from zaps.engine import repository

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_RECORDED_BYTES = 16 * 1024  # a step's input or output beyond this is stored truncated


class Filtered(Exception):
    """Raised by `run.filter(reason)`: the run ends as `filtered`, with the reason recorded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Event:
    id: int
    source: str
    key: str
    kind: str | None
    payload: Any
    headers: dict[str, str] | None
    received_at: datetime


def capped(value: Any, limit: int = MAX_RECORDED_BYTES) -> Any:
    """Keep run records bounded: anything larger than `limit` once serialised is replaced by its head."""
    text = json.dumps(value, default=str)
    if len(text) <= limit:
        return json.loads(text)
    return {"truncated": True, "bytes": len(text), "head": text[:limit]}


class Run:
    def __init__(
        self,
        *,
        run_id: int,
        automation: str,
        attempt: int,
        event: Event,
        database: Database,
        actions: Actions,
        settings: Any,
        runtime: Any = None,
    ) -> None:
        self.id = run_id
        self.automation = automation
        self.attempt = attempt
        self.event = event
        self.settings = settings
        self.actions = actions
        self.runtime = runtime  # zaps.context.Runtime: the service's own resources (an API client, say)
        self.log = logging.getLogger(f"zaps.run.{automation}")
        self._database = database

    def filter(self, reason: str) -> NoReturn:
        """Stop here: the run is `filtered`, not failed, and the reason shows in its history."""
        raise Filtered(reason)

    def idempotency_key(self, step: str) -> str:
        return f"{self.automation}/{self.event.id}/{step}"

    async def step(self, name: str, action: Callable[[str], Awaitable[T]], *, input: Any = None) -> T:
        """Do `action(idempotency_key)` once for this event: if it already succeeded (an earlier attempt or a
        replay), return what it returned then instead of doing it again."""
        key = self.idempotency_key(name)
        started = time.perf_counter()
        async with self._database.connection() as conn:
            done = await repository.ledger_begin(
                conn, automation=self.automation, event_id=self.event.id, step=name, key=key
            )
        if done is not None:
            await self._record(name, "reused", input, done["output"], None, started)
            result: T = done["output"]
            return result
        try:
            result = await action(key)
        except Exception as error:
            await self._record(name, "failed", input, None, f"{type(error).__name__}: {error}", started)
            raise
        recorded = capped(result)
        async with self._database.transaction() as conn:
            await repository.ledger_complete(conn, key=key, output=recorded)
            await self._record(name, "succeeded", input, recorded, None, started, conn=conn)
        return result

    async def webhook(self, step: str, *, url: str, payload: Any, secret: str | None = None) -> dict[str, Any]:
        """POST `payload` as JSON to `url`, signed, once per event."""

        async def send(key: str) -> dict[str, Any]:
            return await self.actions.webhook.send(url=url, payload=payload, idempotency_key=key, secret=secret)

        return await self.step(step, send, input={"url": url, "payload": payload})

    async def slack(self, step: str, *, text: str, webhook_url: str | None = None) -> dict[str, Any]:
        """Post `text` to Slack (SLACK_WEBHOOK_URL unless `webhook_url` is given), once per event."""

        async def send(key: str) -> dict[str, Any]:
            return await self.actions.slack.send(text=text, idempotency_key=key, webhook_url=webhook_url)

        return await self.step(step, send, input={"text": text})

    async def email(self, step: str, *, to: list[str], subject: str, body: str) -> dict[str, Any]:
        """Send an email through the configured SMTP server, once per event."""

        async def send(key: str) -> dict[str, Any]:
            return await self.actions.email.send(to=to, subject=subject, body=body, idempotency_key=key)

        return await self.step(step, send, input={"to": to, "subject": subject})

    async def _record(
        self,
        name: str,
        status: str,
        input: Any,
        output: Any,
        error: str | None,
        started: float,
        conn: repository.Conn | None = None,
    ) -> None:
        values = {
            "run_id": self.id,
            "attempt": self.attempt,
            "name": name,
            "status": status,
            "input": capped(input),
            "output": capped(output),
            "error": error[:4000] if error else None,
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
        if conn is not None:
            await repository.record_step(conn, **values)
            return
        async with self._database.connection() as own:
            await repository.record_step(own, **values)
