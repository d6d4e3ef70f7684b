"""Runs one automation run: claim it, call the handler, record the outcome, and decide on a retry.

The job queue calls `execute` for each `zaps.run` job. A run that fails with a retryable error (a try that outlasts
its automation's timeout is one) goes `retrying` and the job is retried on the automation's `Retry` schedule; after
its last attempt, or on any other error, it is `dead` and listed in the next dead-run alert. A run whose unsure step
is held (`NeedsReview`) ends `needs_review`, listed in the same alert.

Claiming and finishing are short transactions tried again after a transient database error (a lock timeout, a
killed connection). If they still fail, the job fails with the run left active; housekeeping finds such a run and
queues it again (`housekeeping.recover_orphaned_runs`).

The claim's `(attempts, attempt_id)` fences the execution: once housekeeping queued the run again (its worker was
taken for dead while alive), a newer claim or a replay took it over, this execution's next step stops before
sending (`StaleExecution`, ended quietly here) and its finish is refused.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import procrastinate
from procrastinate.jobs import Job

from zaps.context import Runtime
from zaps.db import in_transaction_with_retries
from zaps.engine import deadline, repository
from zaps.engine.run import Event, Filtered, NeedsReview, Run, StaleExecution
from zaps.engine.statuses import RunStatus
from zaps.engine.trials import is_dry_run
from zaps.logging import bound, event_id_var, run_id_var
from zaps.retry import is_retryable, retry_after_of
from zaps.settings import SettingsT

logger = logging.getLogger(__name__)

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


class RetryRun(Exception):
    """Tells the queue to run this job again after `delay_s` (the run is already recorded as `retrying`)."""

    def __init__(self, delay_s: float, cause: str) -> None:
        super().__init__(f"retry in {delay_s:.1f} s: {cause}")
        self.delay_s = delay_s


class EngineRetry(procrastinate.BaseRetryStrategy):
    """The executor decides whether and when; the queue only carries the decision out."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> procrastinate.RetryDecision | None:
        if isinstance(exception, RetryRun):
            return procrastinate.RetryDecision(retry_in={"milliseconds": int(exception.delay_s * 1000)})
        return None


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:4000]


async def execute(runtime: Runtime[SettingsT], run_id: int) -> None:
    automations = runtime.service.automations
    claimed = await in_transaction_with_retries(
        runtime.database,
        lambda conn: repository.claim_run(conn, run_id, WORKER_NAME, runtime.settings.code_version),
        what="claim run",
    )
    if claimed is None:
        logger.info("run already finished; nothing to do", extra={"run": run_id})
        return
    with bound(run_id_var, str(run_id)), bound(event_id_var, str(claimed["event_id"])):
        fence = (claimed["attempts"], claimed["attempt_id"])
        automation = automations.get(claimed["automation"])
        if automation is None:
            await _finish(
                runtime, run_id, fence, status=RunStatus.DEAD, error="this automation is not in the running code"
            )
            return
        row = claimed["event"]
        run = Run(
            run_id=run_id,
            automation=automation.name,
            attempt=claimed["attempts"],
            event=Event(
                id=row["id"],
                source=row["source"],
                key=row["dedup_key"],
                kind=row["kind"],
                payload=row["payload"],
                headers=row["headers"],
                received_at=row["received_at"],
            ),
            runtime=runtime,
            dry_run=is_dry_run(row["headers"]),  # a dry run's event stays dry, whoever runs it (engine.trials)
            fence=fence,
        )
        try:
            await deadline.within(automation.timeout_s, automation.handler(run), automation=automation.name)
        except StaleExecution as stale:
            # Not a failure: a newer execution (or a queued job) owns the run and will finish it. This one records
            # nothing, so it cannot overwrite the newer one's outcome, and its job ends without a retry.
            logger.warning(
                "run taken over by a newer execution; this one stopped before sending",
                extra={"automation": automation.name, "attempt": fence[0], "step": stale.step},
            )
        except Filtered as filtered:
            await _finish(runtime, run_id, fence, status=RunStatus.FILTERED, filter_reason=filtered.reason[:1000])
            logger.info("run filtered", extra={"automation": automation.name, "reason": filtered.reason})
        except NeedsReview as held:
            await _finish(runtime, run_id, fence, status=RunStatus.NEEDS_REVIEW, error=describe(held))
            logger.error(
                "run needs review: a step may have happened and its rule is hold",
                extra={"automation": automation.name, "step": held.step},
            )
        except Exception as error:
            attempts, limit = claimed["attempts"], claimed["max_attempts"]
            if is_retryable(error) and attempts < limit:
                delay = automation.retry.delay(attempts, retry_after_of(error))
                if not await _finish(
                    runtime, run_id, fence, status=RunStatus.RETRYING, error=describe(error), retry_in_s=delay
                ):
                    return  # a newer execution owns the run (and the job): no retry from this one
                logger.warning(
                    "run failed; retrying",
                    extra={"automation": automation.name, "attempt": attempts, "retry_in_s": round(delay, 2)},
                )
                raise RetryRun(delay, describe(error)) from None
            await _finish(runtime, run_id, fence, status=RunStatus.DEAD, error=describe(error))
            logger.error(
                "run is dead", extra={"automation": automation.name, "attempt": attempts, "error": describe(error)}
            )
        else:
            await _finish(runtime, run_id, fence, status=RunStatus.SUCCEEDED)
            logger.info("run succeeded", extra={"automation": automation.name, "attempt": claimed["attempts"]})


async def _finish(runtime: Runtime[SettingsT], run_id: int, fence: tuple[int, int], **outcome: Any) -> bool:
    """Record the run's outcome, unless a later claim took the run over while this execution still ran (its
    worker was taken for dead): then the newer execution's outcome stands and this one's is dropped."""
    finished: bool = await in_transaction_with_retries(
        runtime.database,
        lambda conn: repository.finish_run(conn, run_id, fence=fence, **outcome),
        what="finish run",
    )
    if not finished:
        logger.warning(
            "a newer execution took this run over; this one's outcome is dropped",
            extra={"attempt": fence[0], "outcome": str(outcome.get("status"))},
        )
    return finished
