"""An automation as the engine sees it: a name, a trigger, a handler, its retry schedule, its timeout and its
silence limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeAlias

from zaps.connectors.base import Connector
from zaps.engine.triggers import Poller, Schedule, Subscription, Trigger, Webhook
from zaps.retry import Retry
from zaps.settings import SettingsT

if TYPE_CHECKING:  # for annotations only: run.py imports the repository, which imports this module
    from zaps.engine.run import Run

# `async def handler(run: Run[Settings]) -> None`: what an automation runs for each event.
Handler: TypeAlias = Callable[["Run[SettingsT]"], Awaitable[None]]

# How long one try of a handler may take, unless the automation says otherwise: long enough for a handful of steps
# at their own timeouts (10 s each for the built-in actions), short enough that a hung handler frees its worker and
# its schedule within minutes. docs/automations.md ("Timeouts").
DEFAULT_TIMEOUT = timedelta(minutes=10)


@dataclass
class Automation(Generic[SettingsT]):
    service: str
    local_name: str
    trigger: Trigger[SettingsT]
    handler: Handler[SettingsT]
    retry: Retry = field(default_factory=Retry)
    timeout_s: float = DEFAULT_TIMEOUT.total_seconds()
    silent_after_s: float | None = None
    uses: tuple[type[Connector], ...] = ()  # connectors whose settings must load before the service starts

    @property
    def name(self) -> str:
        return f"{self.service}.{self.local_name}"

    @property
    def max_attempts(self) -> int:
        return self.retry.max_attempts

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

    def setting_names(self) -> dict[str, str]:
        """The settings its trigger reads, by option (`secret_setting`, `cron_setting`, `every_setting`…)."""
        trigger = self.trigger
        return trigger.poller.setting_names() if isinstance(trigger, Subscription) else trigger.setting_names()

    def describe_trigger(self) -> dict[str, Any]:
        trigger = self.trigger
        if isinstance(trigger, Subscription):
            return {**trigger.poller.describe(), "kinds": list(trigger.kinds or [])}
        if isinstance(trigger, Webhook | Schedule | Poller):
            return trigger.describe()
        raise TypeError(f"unknown trigger {trigger!r}")
