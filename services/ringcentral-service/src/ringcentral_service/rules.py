"""The no-code automations file (TOML): its schema, and the checks that stop start-up on a mistake.

See infra/ringcentral/automations.example.toml for every option. Each `[[automation]]` listens to one event kind,
may filter, and does one action: `slack`, `email`, `webhook`, `sms_reply`, `sheets_row` (a Google Sheets row),
`hubspot_call` or `teams` (a card in a Microsoft Teams channel). A mistake (an unknown key, a typo in a kind, a
placeholder that does not exist, a bad time) stops the service at start-up with one line per problem.
"""

from __future__ import annotations

import fnmatch
import re
import string
import tomllib
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What a text template may name; `fields` in automations.py fills them for each event.
PLACEHOLDERS = frozenset(
    {
        "kind",
        "caller",
        "caller_name",
        "callee",
        "callee_name",
        "extension",
        "time",
        "duration",
        "result",
        "direction",
        "text",
        "transcription",
    }
)
ACTIONS = ("slack", "email", "webhook", "sms_reply", "sheets_row", "hubspot_call", "teams")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clock(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day like 08:00") from None


Clock = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM, 24-hour")]


class Hours(Strict):
    """A daily span in the company's time zone; an `end` before `start` runs past midnight (21:00-08:00)."""

    start: Clock
    end: Clock
    days: list[Day] = Field(default_factory=lambda: list(DAYS))

    @model_validator(mode="after")
    def _times(self) -> Self:
        if _clock(self.start) == _clock(self.end):
            raise ValueError("start and end are the same time")
        return self

    def contains(self, moment: datetime) -> bool:
        start, end, now = _clock(self.start), _clock(self.end), moment.time().replace(tzinfo=None)
        day = DAYS[moment.weekday()]
        if start < end:
            return day in self.days and start <= now < end
        # Past midnight: the span belongs to the day it started on.
        if now >= start:
            return day in self.days
        return now < end and DAYS[(moment.weekday() - 1) % 7] in self.days


class Filter(Strict):
    direction: Literal["Inbound", "Outbound"] | None = None
    extensions: list[str] | None = Field(default=None, description="Only calls to or from these extension numbers")
    numbers: list[str] | None = Field(default=None, description="Only these other-party numbers; * and ? wildcards")
    hours: Literal["any", "business", "after-hours"] = "any"


class Slack(Strict):
    text: str = Field(min_length=1, max_length=3000)
    webhook_url_setting: str | None = Field(default=None, description="A settings field; default SLACK_WEBHOOK_URL")
    # With a channel, the Slack app posts it (SLACK_BOT_TOKEN, chat.postMessage) instead of an incoming webhook.
    channel: str | None = Field(default=None, min_length=2, description="A channel ID (C…) or #name for the bot")

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.channel is not None and self.webhook_url_setting is not None:
            raise ValueError("give channel (the Slack app posts) or webhook_url_setting (a webhook posts), not both")
        return self


class Email(Strict):
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(min_length=1)
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)


class Webhook(Strict):
    url: str | None = None
    url_setting: str | None = Field(default=None, description="Read the URL from this settings field instead")

    @model_validator(mode="after")
    def _one_url(self) -> Self:
        if (self.url is None) == (self.url_setting is None):
            raise ValueError("give exactly one of url or url_setting")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            raise ValueError("url must start with https:// or http://")
        return self


class SmsReply(Strict):
    text: str = Field(min_length=1, max_length=1000)
    quiet_hours: Hours | None = Field(default=None, description="No reply during these hours")
    once_per_number_hours: float = Field(default=24, ge=0, description="At most one reply per number in this time")
    max_age_minutes: float = Field(default=120, gt=0, description="No reply to a call older than this")


class SheetsRow(Strict):
    """One row per call or message in a Google Sheet, found by its id in `key_column` and updated, else appended."""

    spreadsheet_id: str = Field(pattern=r"^[A-Za-z0-9_-]{10,}$", description="The id in the sheet's URL, after /d/")
    sheet: str = Field(default="Sheet1", min_length=1, max_length=100, description="The tab's name")
    key_column: str = Field(default="Id", min_length=1, description="The header column that holds the record's id")
    columns: dict[str, str] = Field(default_factory=dict, description="Header column name -> text template")

    @model_validator(mode="after")
    def _key_not_mapped(self) -> Self:
        if self.key_column in self.columns:
            raise ValueError(f"{self.key_column!r} is the key column, filled with the record's id: leave it out")
        return self


class HubspotCall(Strict):
    """Log the call in HubSpot on the other party's contact, upserted by their number (see docs/connectors.md)."""

    body: str = Field(default="{direction} call: {result}, {duration}", min_length=1)
    contact_property: str = Field(
        default="zaps_phone",
        description="The unique contact property holding the number (python -m zaps.connectors.hubspot "
        "ensure-properties --phone creates zaps_phone)",
    )


class Teams(Strict):
    """A card in the channel of a Teams Workflows webhook (TEAMS_WORKFLOW_URL): a bold title, a text, and facts."""

    title: str = Field(default="Call from {caller} {caller_name}", min_length=1, max_length=300)
    text: str = Field(default="", max_length=3000, description="Teams renders its Markdown")
    facts: dict[str, str] = Field(default_factory=dict, description="Fact name -> text template, in this order")


class Rule(Strict):
    name: str
    on: Literal[
        "call.completed",
        "call.missed",
        "call.recording_ready",
        "voicemail.received",
        "sms.received",
        "sms.sent",
    ]
    filter: Filter = Field(default_factory=Filter)
    slack: Slack | None = None
    email: Email | None = None
    webhook: Webhook | None = None
    sms_reply: SmsReply | None = None
    sheets_row: SheetsRow | None = None
    hubspot_call: HubspotCall | None = None
    teams: Teams | None = None
    # None: the engine's default retry schedule (10 tries over about 11 hours); a number cuts it to that many tries.
    max_attempts: int | None = Field(default=None, ge=1, le=50)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("use lowercase letters, digits and dashes (e.g. missed-call-slack)")
        return value

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        actions = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(actions) != 1:
            raise ValueError(f"give exactly one action ({', '.join(ACTIONS)}); found {actions or 'none'}")
        if self.sms_reply is not None and not self.on.startswith(("call.", "voicemail.", "sms.received")):
            raise ValueError("sms_reply answers a caller or a sender: use it on a call, voicemail or sms.received")
        if self.hubspot_call is not None and not self.on.startswith("call."):
            raise ValueError("hubspot_call logs a call: use it on call.completed, call.missed or call.recording_ready")
        for label, template in self.templates():
            unknown = sorted({field for _, field, _, _ in string.Formatter().parse(template) if field} - PLACEHOLDERS)
            if unknown:
                raise ValueError(f"{label} names unknown placeholders {unknown}; known: {sorted(PLACEHOLDERS)}")
        return self

    @property
    def action(self) -> str:
        return next(name for name in ACTIONS if getattr(self, name) is not None)

    def templates(self) -> list[tuple[str, str]]:
        found = []
        if self.slack:
            found.append(("slack.text", self.slack.text))
        if self.email:
            found += [("email.subject", self.email.subject), ("email.body", self.email.body)]
        if self.sms_reply:
            found.append(("sms_reply.text", self.sms_reply.text))
        if self.sheets_row:
            found += [(f"sheets_row.columns.{name}", text) for name, text in self.sheets_row.columns.items()]
        if self.hubspot_call:
            found.append(("hubspot_call.body", self.hubspot_call.body))
        if self.teams:
            found += [("teams.title", self.teams.title), ("teams.text", self.teams.text)]
            found += [(f"teams.facts.{name}", text) for name, text in self.teams.facts.items()]
        return found


class RulesFile(Strict):
    timezone: str = Field(default="UTC", description="The company's time zone, for hours and times in messages")
    business_hours: Hours | None = None
    automation: list[Rule] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name like America/New_York") from None
        return value

    @model_validator(mode="after")
    def _unique_and_complete(self) -> Self:
        names = [rule.name for rule in self.automation]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"automation names must be unique: {twice}")
        if self.business_hours is None and any(rule.filter.hours != "any" for rule in self.automation):
            raise ValueError("a filter uses hours = business/after-hours, but [business_hours] is not set")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class RulesError(ValueError):
    """The automations file is wrong; the message names the file and every problem, one per line."""


def parse_rules(text: str, *, source: str = "automations file") -> RulesFile:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"{source}: not valid TOML: {error}") from None
    try:
        return RulesFile.model_validate(raw)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            location = ".".join(str(part) for part in item["loc"]) or "(top level)"
            lines.append(f"{source}: {location}: {item['msg'].removeprefix('Value error, ')}")
        raise RulesError("\n".join(lines)) from None


def load_rules(path: Path | None) -> RulesFile:
    """The rules in `path`; no file configured means no no-code automations."""
    if path is None:
        return RulesFile()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError(f"RINGCENTRAL_AUTOMATIONS_FILE: cannot read {path}: {error.strerror}") from None
    return parse_rules(text, source=str(path))


def number_matches(number: str | None, patterns: list[str]) -> bool:
    if not number:
        return False
    return any(fnmatch.fnmatchcase(number, pattern) for pattern in patterns)
