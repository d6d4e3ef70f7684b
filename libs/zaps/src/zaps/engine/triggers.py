"""What starts an automation: an inbound webhook, a cron schedule (with time zone), or a poll with a cursor.

Each trigger feeds events into a *source*. A webhook or a schedule belongs to one automation; a poller is a
source of its own that several automations can listen to, each for the event kinds it wants (`poller.on(...)`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeAlias
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import SecretStr

from zaps.context import Runtime
from zaps.engine.schemes import Reply, Scheme
from zaps.settings import SettingsT, ZapsSettings

DEFAULT_BODY_LIMIT = 1024 * 1024  # 1 MiB: larger webhook bodies get a 413


def setting_value(settings: ZapsSettings, name: str | None) -> str | None:
    """A trigger names a settings field (e.g. "orders_webhook_secret") instead of holding a secret itself: this is
    that field's value as text (a secret revealed), or None when the field is unset.

    The names are checked against the settings class when the service starts (`zaps.declarations`)."""
    if name is None:
        return None
    value = getattr(settings, name)
    if value is None:
        return None
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


@dataclass(frozen=True)
class Webhook:
    """POST {prefix}/hooks/{automation}. Exactly one way to prove the sender:

    - `secret_setting`: Zaps' own HMAC-SHA256 signature (`zaps.signing`);
    - `token_setting`: a shared token in a header, and with `path_token=True` also in the URL
      (POST {prefix}/hooks/{automation}/t/<token>) for senders that cannot set headers (HTML forms, Twilio);
    - `scheme`: a provider's own signature (`zaps.engine.schemes`: Stripe, GitHub, Shopify, Slack, a generic HMAC).

    The event's unique key comes only from what the sender signed: the signed Idempotency-Key (Zaps' v2), the
    provider's event id inside the signed body (Stripe, Slack), else the SHA-256 of the raw body; `dedup(payload)`
    picks it instead. Never from an unsigned header: a captured request re-sent with a new one would be a new event.
    `reply` replaces the JSON answer for senders that read it (TwiML for Twilio, a redirect for a browser)."""

    secret_setting: str | None = None
    token_setting: str | None = None
    body_limit: int = DEFAULT_BODY_LIMIT
    tolerance_s: int = 300
    dedup: Callable[[Any], str] | None = None
    scheme: Scheme | None = None
    path_token: bool = False
    reply: Reply | None = None

    def __post_init__(self) -> None:
        chosen = [name for name in ("secret_setting", "token_setting", "scheme") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "a webhook needs exactly one of secret_setting (Zaps' HMAC), token_setting (shared token) or "
                "scheme (a provider's signature)"
            )
        if self.path_token and self.token_setting is None:
            raise ValueError("path_token=True needs token_setting: only a shared token can travel in the URL")

    def setting_names(self) -> dict[str, str]:
        """The settings this trigger reads, by option: checked against the settings class at start."""
        named = {
            "secret_setting": self.secret_setting,
            "token_setting": self.token_setting,
            "scheme.secret_setting": self.scheme.secret_setting if self.scheme else None,
        }
        return {option: name for option, name in named.items() if name}

    @property
    def auth(self) -> str:
        if self.scheme is not None:
            return self.scheme.name
        return "hmac" if self.secret_setting else "token"

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"type": "webhook", "auth": self.auth}
        if self.path_token:
            described["path_token"] = True
        return described


@dataclass(frozen=True)
class Schedule:
    """Fire on a cron expression in a time zone (five fields; a sixth, seconds, last). The expression is given
    here (`cron`) or read from a settings field (`cron_setting`), so it can change without a code change."""

    cron: str | None = None
    timezone: str = "UTC"
    cron_setting: str | None = None

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.cron_setting is None):
            raise ValueError("a schedule needs exactly one of cron or cron_setting")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"not a valid cron expression: {self.cron!r}")
        ZoneInfo(self.timezone)  # raises for an unknown zone, at import time rather than at the first tick

    def setting_names(self) -> dict[str, str]:
        return {"cron_setting": self.cron_setting} if self.cron_setting else {}

    def expression(self, settings: ZapsSettings) -> str:
        cron = self.cron or str(setting_value(settings, self.cron_setting))
        if not croniter.is_valid(cron):
            raise ValueError(f"{(self.cron_setting or 'cron').upper()} is not a valid cron expression: {cron!r}")
        return cron

    def next_after(self, moment: datetime, settings: ZapsSettings) -> datetime:
        local = moment.astimezone(ZoneInfo(self.timezone))
        following: datetime = croniter(self.expression(settings), local).get_next(datetime)
        return following

    def describe(self) -> dict[str, Any]:
        return {"type": "schedule", "cron": self.cron or f"${{{self.cron_setting}}}", "timezone": self.timezone}


@dataclass(frozen=True)
class NewEvent:
    """One thing a poll found: `key` must be unique within the poller (a record id, plus a version if an update
    should fire again)."""

    key: str
    payload: dict[str, Any]
    kind: str | None = None


@dataclass(frozen=True)
class PollResult:
    events: Sequence[NewEvent] = ()
    cursor: Any = None  # stored only together with the events, in one transaction


@dataclass(frozen=True)
class PollContext(Generic[SettingsT]):
    """What a poller's `fetch` receives; `PollContext[Settings]` types `poll.runtime.settings` as the service's."""

    cursor: Any  # what the last successful poll returned (None the first time): any JSON value the poller chose
    runtime: Runtime[SettingsT]


PollFunction: TypeAlias = Callable[[PollContext[SettingsT]], Awaitable[PollResult]]


@dataclass
class Poller(Generic[SettingsT]):
    """A source fed by calling `fetch` every `every_s` seconds (or the value of the settings field `every_setting`)."""

    name: str
    fetch: PollFunction[SettingsT]
    every_s: float | None = None
    every_setting: str | None = None
    silent_after_s: float | None = None  # a poll that has not succeeded for this long is "stalled"
    service: str = ""

    def setting_names(self) -> dict[str, str]:
        return {"every_setting": self.every_setting} if self.every_setting else {}

    def interval(self, settings: ZapsSettings) -> float:
        value = setting_value(settings, self.every_setting) if self.every_setting else self.every_s
        if value is None:
            raise ValueError(f"poller {self.name} has no interval")
        return float(value)

    @property
    def source(self) -> str:
        return f"{self.service}.{self.name}"

    def on(self, *kinds: str) -> Subscription[SettingsT]:
        """Listen to this poller's events, only those of `kinds` if given."""
        return Subscription(poller=self, kinds=tuple(kinds) or None)

    def describe(self) -> dict[str, Any]:
        return {"type": "poll", "poller": self.name, "every_s": self.every_s, "every_setting": self.every_setting}


@dataclass(frozen=True)
class Subscription(Generic[SettingsT]):
    poller: Poller[SettingsT]
    kinds: tuple[str, ...] | None = field(default=None)


# What `service.automation(...)` accepts; a poller (or a subscription to one) carries the service's settings class,
# since its `fetch` receives that service's runtime.
Trigger: TypeAlias = Webhook | Schedule | Poller[SettingsT] | Subscription[SettingsT]
