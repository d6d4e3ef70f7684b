"""The interfaces a run's side effects go through. A run passes its ledger key as `idempotency_key`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class WebhookAction(Protocol):
    async def send(
        self, *, url: str, payload: Any, idempotency_key: str, secret: str | None = None
    ) -> dict[str, Any]: ...


class SlackAction(Protocol):
    async def send(self, *, text: str, idempotency_key: str, webhook_url: str | None = None) -> dict[str, Any]: ...


class EmailAction(Protocol):
    async def send(self, *, to: list[str], subject: str, body: str, idempotency_key: str) -> dict[str, Any]: ...


@dataclass
class Actions:
    webhook: WebhookAction
    slack: SlackAction
    email: EmailAction

    async def aclose(self) -> None:
        for action in (self.webhook, self.slack, self.email):
            close = getattr(action, "aclose", None)
            if close is not None:
                await close()
