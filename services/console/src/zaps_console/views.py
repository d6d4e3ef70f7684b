"""How things look on a page: status labels, times, durations, pretty JSON, triggers, cursors and Grafana links.

Pure functions of their arguments (no database, no request), so they are tested as a table of cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from zaps.engine.statuses import REPLAYABLE, TERMINAL, RunStatus, StepStatus
from zaps.run_summary import format_duration  # one way to say how long: the console and `zaps runs show` agree


@dataclass(frozen=True)
class StatusLook:
    label: str  # always shown: the colour is a second cue, never the only one
    tone: str  # a CSS class: ok, info, warn, bad, muted, paused
    symbol: str  # a glyph before the label, for readers who cannot tell the colours apart
    meaning: str  # the tooltip


STATUSES: dict[str, StatusLook] = {  # one for every RunStatus (tests/test_status_menu.py checks)
    RunStatus.SUCCEEDED: StatusLook("Succeeded", "ok", "✓", "The automation ran to the end"),
    RunStatus.FILTERED: StatusLook("Filtered", "muted", "⊘", "The automation chose not to act on this event"),
    RunStatus.DEAD: StatusLook(
        "Dead", "bad", "✕", "Failed for good: every attempt was used, or the error was permanent"
    ),
    RunStatus.NEEDS_REVIEW: StatusLook(
        "Needs review",
        "bad",
        "?",
        "A step may have happened and its rule is hold: send it again, or mark it as done",
    ),
    RunStatus.RETRYING: StatusLook("Retrying", "warn", "↻", "Failed; another attempt is scheduled"),
    RunStatus.RUNNING: StatusLook("Running", "info", "▶", "An attempt is running now"),
    RunStatus.QUEUED: StatusLook("Queued", "info", "…", "Waiting for a worker"),
    RunStatus.PAUSED: StatusLook("Paused", "paused", "⏸", "Held while its automation is paused"),
}
# Outcomes of attempts and steps that are not run statuses.
OUTCOMES: dict[str, StatusLook] = {
    "replayed": StatusLook("Replayed", "info", "↺", "Queued again from the console or the CLI"),
    "crashed": StatusLook("Crashed", "bad", "✕", "The worker stopped during this attempt"),
    StepStatus.FAILED: StatusLook("Failed", "bad", "✕", "This step raised an error"),
    StepStatus.REUSED: StatusLook("Reused", "muted", "=", "Done by an earlier attempt: its recorded output was reused"),
    StepStatus.UNSURE: StatusLook("Unsure", "warn", "?", "Sent, but no answer was recorded: it may have happened"),
    StepStatus.VERIFIED: StatusLook(
        "Verified", "ok", "✓", "An unsure try was found done at the target: not sent again"
    ),
}


def status_look(status: str | None) -> StatusLook:
    if status is None:
        return StatusLook("Unfinished", "muted", "·", "This attempt has not finished")
    return STATUSES.get(status) or OUTCOMES.get(status) or StatusLook(status.title(), "muted", "·", status)


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def is_replayable(status: str) -> bool:
    return status in REPLAYABLE


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{int(seconds)} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} d"
    return f"in {text}" if future else f"{text} ago"


def run_duration(run: dict[str, Any]) -> str:
    if run.get("started_at") is None or run.get("finished_at") is None:
        return "—"
    return format_duration((run["finished_at"] - run["started_at"]).total_seconds())


def pretty_json(value: Any) -> str:
    """Indented JSON for a <pre>; Jinja escapes it on the way out, so a payload cannot inject markup."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def describe_trigger(trigger: dict[str, Any] | None) -> str:
    """One line a person can read: `Webhook (signed)`, `Schedule 0 9 * * 1-5 (Europe/Paris)`, `Poll feed, 60 s`."""
    if not trigger:
        return "—"
    kind = trigger.get("type")
    if kind == "webhook":
        auth = trigger.get("auth")
        # "hmac" is Zaps' own signature, "token" a shared token; anything else names a provider's scheme.
        described = {"hmac": "HMAC-signed", "token": "token", "custom-hmac": "custom HMAC"}.get(
            str(auth), f"{auth} signature"
        )
        return f"Webhook ({described}{', token in the URL' if trigger.get('path_token') else ''})"
    if kind == "schedule":
        return f"Schedule {trigger.get('cron')} ({trigger.get('timezone') or 'UTC'})"
    if kind == "poll":
        every = trigger.get("every_s")
        interval = f"every {format_duration(every)}" if every else f"every ${{{trigger.get('every_setting')}}} s"
        kinds = trigger.get("kinds")
        return f"Poll {trigger.get('poller')}, {interval}" + (f", kinds {', '.join(kinds)}" if kinds else "")
    return json.dumps(trigger, default=str)


def success_rate(succeeded: int, filtered: int, dead: int) -> str:
    """Share of the finished runs that did not die (a filtered run did what it should)."""
    finished = succeeded + filtered + dead
    if finished == 0:
        return "—"
    return f"{100 * (succeeded + filtered) / finished:.0f}%"


# --- the runs page cursor ----------------------------------------------------------------------------------------


def encode_cursor(created_at: datetime, run_id: int) -> str:
    """`<microseconds since the epoch>-<run id>`: the position of the last row shown, exactly (no float rounding)."""
    delta = created_at - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}-{run_id}"


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """The (created_at, id) a cursor stands for; None for an empty one; ValueError for a damaged one."""
    if not cursor:
        return None
    micros, sep, run_id = cursor.partition("-")
    if not sep or not micros.isdigit() or not run_id.isdigit() or len(cursor) > 40:
        raise ValueError("not a runs page cursor")
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))
    return moment, int(run_id)


def query_string(**params: Any) -> str:
    """A query string of the parameters that are set (empty ones are left out, so links stay short)."""
    kept = {key: value for key, value in params.items() if value not in (None, "")}
    return ("?" + urlencode(kept)) if kept else ""


# --- Grafana ------------------------------------------------------------------------------------------------------

LOKI_UID = "loki"  # grafana/provisioning/datasources/loki.yml gives the datasource this fixed uid


def loki_query(run_id: int) -> str:
    """Every log line of the run: the line filter keeps Loki's work small, the JSON field makes it exact."""
    return f'{{stack="zaps"}} |= "{run_id}" | json | run_id="{run_id}"'


def grafana_logs_url(grafana_url: str, run: dict[str, Any], now: datetime | None = None) -> str:
    """Grafana Explore on Loki, the run's query, from a minute before the run was created to a while after it ended."""
    start = run["created_at"] - timedelta(minutes=1)
    end = (run.get("finished_at") or now or datetime.now(UTC)) + timedelta(minutes=5)
    panes = {
        "run": {
            "datasource": LOKI_UID,
            "queries": [
                {
                    "refId": "A",
                    "datasource": {"type": "loki", "uid": LOKI_UID},
                    "expr": loki_query(int(run["id"])),
                    "queryType": "range",
                    "editorMode": "code",
                }
            ],
            "range": {"from": str(int(start.timestamp() * 1000)), "to": str(int(end.timestamp() * 1000))},
        }
    }
    encoded = quote(json.dumps(panes, separators=(",", ":")), safe="")
    return f"{grafana_url}/explore?schemaVersion=1&orgId=1&panes={encoded}"
