"""An automation as the engine sees it: a name, a trigger, a handler, and its retry and silence limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zaps.engine.triggers import Poller, Schedule, Subscription, Trigger, Webhook
from zaps.retry import Backoff

if TYPE_CHECKING:
    from zaps.engine.run import Run

Handler = Callable[["Run"], Awaitable[None]]


@dataclass
class Automation:
    service: str
    local_name: str
    trigger: Trigger
    handler: Handler
    max_attempts: int = 5
    silent_after_s: float | None = None
    backoff: Backoff = field(default_factory=Backoff)

    @property
    def name(self) -> str:
        return f"{self.service}.{self.local_name}"

    @property
    def source(self) -> str:
        """The event source this automation listens to."""
        if isinstance(self.trigger, Subscription):
            return self.trigger.poller.source
        if isinstance(self.trigger, Poller):
            return self.trigger.source
        return self.name  # a webhook or a schedule feeds this automation alone

    @property
    def kinds(self) -> list[str] | None:
        if isinstance(self.trigger, Subscription) and self.trigger.kinds:
            return list(self.trigger.kinds)
        return None

    def describe_trigger(self) -> dict[str, Any]:
        trigger = self.trigger
        if isinstance(trigger, Subscription):
            return {**trigger.poller.describe(), "kinds": list(trigger.kinds or [])}
        if isinstance(trigger, Webhook | Schedule | Poller):
            return trigger.describe()
        raise TypeError(f"unknown trigger {trigger!r}")
