"""A trial run (`zaps run <automation> --event sample.json`): a real event and a real run, marked as a trial.

The mark is on the stored event, not in a column of its own: its source is `trial:<the automation's source>` (so a
trial never counts as its trigger firing, for the dead-man's switch) and its headers carry `zaps-trial: send` or
`zaps-trial: dry-run`. Whoever executes the run reads the mark (the `zaps run` command, or a worker if the run is
recovered or replayed later), so a dry run's event is never sent for real.
"""

from __future__ import annotations

from typing import Any, Literal

TRIAL_HEADER = "zaps-trial"
SOURCE_PREFIX = "trial:"
Mode = Literal["send", "dry-run"]


def would_send(action: str, input: Any) -> dict[str, Any]:
    """What a step that does not send records as its output: `{"shadow": true, "would": {action: input}}`. The
    shape of the RingCentral automations' shadow mode, which a dry run shares, so one reader reads both."""
    return {"shadow": True, "would": {action: input}}


def trial_headers(mode: Mode) -> dict[str, str]:
    return {TRIAL_HEADER: mode}


def trial_mode(headers: dict[str, Any] | None) -> Mode | None:
    """ "send" or "dry-run" for a trial's event, None for any other event."""
    value = (headers or {}).get(TRIAL_HEADER)
    return value if value in ("send", "dry-run") else None


def is_dry_run(headers: dict[str, Any] | None) -> bool:
    return trial_mode(headers) == "dry-run"
