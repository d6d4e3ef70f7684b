"""What can a run, a step and a ledger entry be? Their statuses, and the groups of run statuses the code decides by.

The values are the ones the database's CHECK constraints allow (`zaps_run.status`, `zaps_ledger.status`;
libs/zaps/tests/engine/test_statuses.py compares them), so Python code names a status through these enums and
never spells one out. SQL text may still say 'queued': it is checked by the same constraint.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"  # waiting for a worker
    RUNNING = "running"  # an attempt is at work
    SUCCEEDED = "succeeded"
    FILTERED = "filtered"  # the automation chose not to act on the event
    RETRYING = "retrying"  # failed; another attempt is scheduled
    DEAD = "dead"  # failed for good
    PAUSED = "paused"  # held while its automation is paused
    NEEDS_REVIEW = "needs_review"  # a step may have happened and its rule is hold: a person decides


# A job will (or should) run it: a run in one of these without a live job is stuck.
ACTIVE: frozenset[RunStatus] = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.RETRYING})
# Nothing more happens to it unless someone replays or settles it; it has a finished_at.
TERMINAL: frozenset[RunStatus] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FILTERED, RunStatus.DEAD, RunStatus.NEEDS_REVIEW}
)
# Replay queues these again (an active run only when it is stuck: see repository.replay).
REPLAYABLE: frozenset[RunStatus] = TERMINAL
# A run in one of these waits for a person, so an alert lists it.
ALERTED: frozenset[RunStatus] = frozenset({RunStatus.DEAD, RunStatus.NEEDS_REVIEW})


class StepStatus(StrEnum):
    """What one try of a step recorded in zaps_step (a run's timeline; the column has no constraint)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the action raised
    REUSED = "reused"  # done by an earlier attempt: the ledger's output was returned
    UNSURE = "unsure"  # sent, and no answer recorded: it may have happened
    VERIFIED = "verified"  # an unsure try was found done at the target
    WOULD_SEND = "would_send"  # a dry run's step: what it would have sent, not sent (no ledger entry)


class LedgerStatus(StrEnum):
    """Where a step stands in the idempotency ledger (zaps_ledger.status)."""

    STARTED = "started"  # a try was sent (or is about to be)
    SUCCEEDED = "succeeded"
    NOT_DONE = "not_done"  # the last try is known not to have happened
    UNSURE = "unsure"  # the last try may have happened


def sql_list(statuses: frozenset[RunStatus]) -> list[str]:
    """A group as a sorted list of plain strings, for `status = ANY (%s)` (stable text for logs and plans)."""
    return sorted(str(status) for status in statuses)
