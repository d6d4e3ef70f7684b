"""Fakes that record what would have been sent, for tests of automations (and for shadow mode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zaps.actions.base import Actions


@dataclass
class Recorder:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def record(self, **call: Any) -> dict[str, Any]:
        self.calls.append(call)
        return {"recorded": True, "call": len(self.calls)}


class FakeWebhook(Recorder):
    async def send(self, *, url: str, payload: Any, idempotency_key: str, secret: str | None = None) -> dict[str, Any]:
        return self.record(url=url, payload=payload, idempotency_key=idempotency_key)


class FakeSlack(Recorder):
    async def send(self, *, text: str, idempotency_key: str, webhook_url: str | None = None) -> dict[str, Any]:
        return self.record(text=text, idempotency_key=idempotency_key, webhook_url=webhook_url)


class FakeEmail(Recorder):
    async def send(self, *, to: list[str], subject: str, body: str, idempotency_key: str) -> dict[str, Any]:
        return self.record(to=to, subject=subject, body=body, idempotency_key=idempotency_key)


def fake_actions() -> Actions:
    return Actions(webhook=FakeWebhook(), slack=FakeSlack(), email=FakeEmail())
