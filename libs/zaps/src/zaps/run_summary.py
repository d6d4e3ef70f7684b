"""What does `zaps runs show` print? A run (as `engine.repository.get_run` reads it) as a short summary a person
reads at a glance: what ran, how it ended, when and for how long, each step on one line, the ledger's keys.

Pure functions of the run (no database), so a test can give it a run and read the text. `--json` prints the
whole record instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from zaps.engine.statuses import RunStatus
from zaps.engine.trials import trial_mode

_ERROR_WIDTH = 100  # an error longer than this is cut on its line: --json has it whole


def format_time(moment: datetime | str | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):  # the event comes through row_to_json, so its times are text
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _one_line(text: str | None, width: int = _ERROR_WIDTH) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _last_replay(run: dict[str, Any]) -> datetime | None:
    """When the run was last queued again (replay, send again, mark done): its current execution began then."""
    replays = [a["finished_at"] for a in run.get("attempt_log", []) if a["outcome"] == "replayed"]
    return max(replays) if replays else None


def _took(run: dict[str, Any], now: datetime) -> str:
    started, finished = run.get("started_at"), run.get("finished_at")
    if started is None:
        return "not started yet"
    if finished is None:  # still going (running, or retrying between attempts)
        return f"{format_duration((now - started).total_seconds())} so far ({run['status']})"
    return format_duration((finished - started).total_seconds())


def _attempt(run: dict[str, Any], replayed_at: datetime | None) -> str:
    text = f"{run['attempts']} of {run['max_attempts']}"
    if replayed_at is not None:
        before = sum(1 for a in run.get("attempt_log", []) if a["number"] > 0 and a["started_at"] < replayed_at)
        text += f" since it was queued again at {format_time(replayed_at)} ({before} before that)"
    return text


def _step_lines(run: dict[str, Any], replayed_at: datetime | None) -> list[str]:
    steps = run.get("steps", [])
    current = [s for s in steps if replayed_at is None or s["started_at"] >= replayed_at]
    if not current:
        return ["Steps      none in this execution" if steps else "Steps      none"]
    width = max(len(s["name"]) for s in current)
    lines = ["Steps"]
    for step in current:
        duration = format_duration(step["duration_ms"] / 1000 if step["duration_ms"] is not None else None)
        error = _one_line(step["error"])
        line = f"  #{step['attempt']:<2} {step['name']:<{width}}  {step['status']:<9} {duration:>8}"
        lines.append(f"{line}  {error}" if error else line)
    earlier = len(steps) - len(current)
    if earlier:
        lines.append(f"  ({earlier} step(s) of earlier executions: --json shows them)")
    return lines


def _ledger_lines(run: dict[str, Any]) -> list[str]:
    entries = run.get("ledger", [])
    if not entries:
        return []
    width = max(len(e["step"]) for e in entries)
    lines = ["Ledger"]
    for entry in entries:
        tries = f"{entry['tries']} tr{'y' if entry['tries'] == 1 else 'ies'}"
        resolution = f"  ({entry['resolution']})" if entry.get("resolution") else ""
        lines.append(
            f"  {entry['step']:<{width}}  {entry['status']:<9} {tries:<8} key {entry['idempotency_key']}{resolution}"
        )
    return lines


def summarize(run: dict[str, Any], *, console_url: str | None = None, now: datetime | None = None) -> str:
    """The summary `zaps runs show` prints for one run."""
    now = now or datetime.now(UTC)
    event = run["event"]
    replayed_at = _last_replay(run)
    kind = f", kind {event['kind']}" if event.get("kind") else ""
    lines = [
        f"Run {run['id']}   {run['automation']}   {run['status']}",
        f"Event      {event['id']} from {event['source']}{kind}, key {event['dedup_key']}, "
        f"received {format_time(event.get('received_at'))}",
        f"Attempt    {_attempt(run, replayed_at)}",
        f"When       created {format_time(run['created_at'])}, started {format_time(run['started_at'])}, "
        f"finished {format_time(run['finished_at'])}",
        f"Took       {_took(run, now)}",
    ]
    mode = trial_mode(event.get("headers"))
    if mode is not None:
        lines.append(
            "Trial      `zaps run --dry-run`: nothing was sent" if mode == "dry-run" else "Trial      `zaps run`"
        )
    if run.get("next_attempt_at") is not None:
        lines.append(f"Next try   {format_time(run['next_attempt_at'])}")
    if run.get("stuck"):
        lines.append("Stuck      no job will run it any more: replay it")
    if run.get("filter_reason"):
        lines.append(f"Filtered   {_one_line(run['filter_reason'])}")
    if run.get("error"):
        lines.append(f"Error      {_one_line(run['error'])}")
    if run["status"] == RunStatus.NEEDS_REVIEW:
        held = ", ".join(s["step"] for s in run.get("unsure_steps", [])) or "—"
        lines.append(f"Review     unsure: {held}; then `zaps runs send-again {run['id']}` or `mark-done {run['id']}`")
    lines += _step_lines(run, replayed_at)
    lines += _ledger_lines(run)
    if console_url:
        lines.append(f"Console    {console_url.rstrip('/')}/runs/{run['id']}")
    return "\n".join(lines)
