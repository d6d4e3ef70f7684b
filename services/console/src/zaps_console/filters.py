"""Which runs does the runs page show? The filter read from the query string, and back into links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zaps.engine.admin import parse_since
from zaps.engine.statuses import RunStatus

from zaps_console import views

# Every status, those that want attention first (the order of the status menu).
STATUS_CHOICES: list[RunStatus] = [
    RunStatus.DEAD,
    RunStatus.NEEDS_REVIEW,
    RunStatus.RETRYING,
    RunStatus.RUNNING,
    RunStatus.QUEUED,
    RunStatus.PAUSED,
    RunStatus.SUCCEEDED,
    RunStatus.FILTERED,
]
WINDOW_CHOICES = [
    ("", "Any time"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
]


class BadFilter(ValueError):
    """A filter value the page cannot use; the message says which."""


def _moment(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{name}: not a date and time ({value[:40]!r})") from None
    try:
        # In UTC from here on: 0001-01-01T00:00+14:00 would overflow where the page shows it.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)  # the form's times are UTC
    except OverflowError:
        raise BadFilter(f"{name}: outside the years 1 to 9999 in UTC ({value[:40]!r})") from None


@dataclass(frozen=True)
class RunFilter:
    automation: str = ""
    status: str = ""
    since: str = ""  # a window ("24h") or an ISO time
    start: str = ""  # a custom start (datetime-local, UTC); wins over `since`
    until: str = ""  # a custom end (datetime-local, UTC)

    @classmethod
    def read(cls, values: dict[str, Any]) -> RunFilter:
        """From query or form values; BadFilter names the first value that cannot be used."""

        def text(name: str, limit: int = 200) -> str:
            value = str(values.get(name) or "").strip()[:limit]
            if "\x00" in value:  # PostgreSQL text cannot hold it, so it could match nothing
                raise BadFilter(f"{name}: must not contain a NUL character")
            return value

        found = cls(
            automation=text("automation"),
            status=text("status", 20),
            since=text("since", 40),
            start=text("from", 40),
            until=text("until", 40),
        )
        if found.status and found.status not in STATUS_CHOICES:
            raise BadFilter(f"status: {found.status!r} is not one of {', '.join(STATUS_CHOICES)}")
        found.window()  # parse now: a bad time is refused before any query runs
        return found

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The (since, until) the filter selects, as times."""
        since: datetime | None
        if self.start:
            since = _moment(self.start, "from")
        else:
            try:
                since = parse_since(self.since)
            except ValueError as error:
                raise BadFilter(f"since: {error}") from None
        until = _moment(self.until, "until") if self.until else None
        return since, until

    @property
    def automation_or_none(self) -> str | None:
        return self.automation or None

    @property
    def status_or_none(self) -> str | None:
        return self.status or None

    def params(self, **changes: Any) -> dict[str, str]:
        values = {
            "automation": self.automation,
            "status": self.status,
            "since": self.since,
            "from": self.start,
            "until": self.until,
        }
        values.update(changes)
        return {key: value for key, value in values.items() if value}

    def link(self, **changes: Any) -> str:
        """This filter's query string, with `changes` applied (e.g. `cursor=…`, `status=""`)."""
        return views.query_string(**self.params(**changes))

    def describe(self) -> str:
        """The filter in words, for the replay confirmation."""
        parts = [f"of {self.automation}" if self.automation else "of every automation"]
        since, until = self.window()
        if since:
            parts.append(f"created since {views.format_time(since)}")
        if until:
            parts.append(f"before {views.format_time(until)}")
        return " ".join(parts)
