"""Housekeeping, every `housekeeping_interval_s` on one replica: rerun the jobs of dead workers, queue again the
runs no job will run any more, send (and retry) alerts, raise the dead-man's switch for silent triggers, and prune
old runs, events and jobs so the database cannot fill up.

Nothing stays stuck: a run whose job failed or vanished while it was active is queued again by the next pass (at
most `housekeeping_interval_s` later), and a run whose worker died is queued again once the worker has been silent
for `stalled_after_s` while the database answered (after an outage, counted from the database's return: no
heartbeat could be written meanwhile), so at most `stalled_after_s + housekeeping_interval_s` after the later of
the two. After `max_job_recoveries` such recoveries the run is dead and alerted instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from procrastinate.jobs import Status

from zaps.context import Runtime
from zaps.engine import alerts, housekeeping_repository, repository
from zaps.engine.repository import RUN_TASK
from zaps.settings import SettingsT

logger = logging.getLogger(__name__)

PRUNE_BATCH = 5000  # rows per statement, so a large backlog never holds a long lock


async def run_all(runtime: Runtime[SettingsT]) -> None:
    chores = (
        recover_stalled_jobs,
        recover_orphaned_runs,
        prune_silent_workers,
        alerts.send_dead_run_alerts,
        alerts.retry_undelivered,
        check_silent_triggers,
        prune,
        analyze_queue,
    )
    for chore in chores:
        try:
            await chore(runtime)
        except Exception:
            logger.exception("housekeeping chore failed", extra={"chore": chore.__name__})


async def analyze_queue(runtime: Runtime[SettingsT]) -> None:
    """Fresh statistics for the job queue's fetch query, even where autovacuum is off (migration 0004 says why)."""
    async with runtime.database.connection() as conn:
        await housekeeping_repository.analyze_job_queue(conn)


STALLED_RUN = "its worker went silent during this attempt (taken for dead); queued again"


async def recover_stalled_jobs(runtime: Runtime[SettingsT]) -> int:
    """procrastinate leaves the jobs of a killed worker `doing` for ever; recover those of workers silent for
    `stalled_after_s`, once the database has answered for that long itself (`Reachability`: no heartbeat could be
    written while it was away). A run's job is failed and the run queued again with a new job, so that the silent
    worker, should it still be alive, can neither finish the new job nor send a step (the run's claim fence); a
    job that keeps stalling is parked as failed, and its run marked dead."""
    settings = runtime.settings
    manager = runtime.queue.job_manager
    back_for = runtime.database.reachability.reachable_for_s()
    if back_for < settings.stalled_after_s:
        logger.info(
            "stalled-job check put off: the database answers again since too short a time",
            extra={"reachable_for_s": round(back_for, 1), "grace_s": settings.stalled_after_s},
        )
        return 0
    recovered = 0
    for queue in runtime.service.queues:
        for job in await manager.get_stalled_jobs(queue=queue, seconds_since_heartbeat=settings.stalled_after_s):
            if job.task_name == RUN_TASK and "run_id" in job.task_kwargs:
                recovered += await _recover_stalled_run(runtime, job.id, int(str(job.task_kwargs["run_id"])))
            elif job.attempts < settings.max_job_recoveries:
                await manager.retry_job(job)
                recovered += 1
                logger.warning("requeued a job whose worker died", extra={"job": job.id, "task": job.task_name})
            else:
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
                logger.error("parked a job that stalled too often", extra={"job": job.id, "task": job.task_name})
    return recovered


async def prune_silent_workers(runtime: Runtime[SettingsT]) -> int:
    """Forget the workers silent for `stalled_after_s` (after `recover_stalled_jobs` has taken their jobs back), under
    the same grace. procrastinate's worker does this as it starts, but ours put that off while the database is newly
    back (`app.prune_after_s`), which in a process that just started is always. A forgotten worker that was alive
    after all fails its next fetch, stops and registers again."""
    settings = runtime.settings
    if runtime.database.reachability.reachable_for_s() < settings.stalled_after_s:
        return 0
    pruned = await runtime.queue.job_manager.prune_stalled_workers(settings.stalled_after_s)
    return len(pruned)


async def _recover_stalled_run(runtime: Runtime[SettingsT], job_id: int | None, run_id: int) -> int:
    """Fail the stalled job and queue its run again with a new one, in one transaction (dead after
    `max_job_recoveries`). Not `retry_job`: the same job run again would be ended by the silent worker too, if it
    is alive, while the new execution still ran it, and the run would then look orphaned and be queued a third
    time."""
    assert job_id is not None  # a job read from the database
    async with runtime.database.transaction() as conn:
        if not await housekeeping_repository.fail_stalled_job(conn, job_id):
            return 0
        outcome = await repository.recover_orphan(
            conn, run_id, max_recoveries=runtime.settings.max_job_recoveries, why=STALLED_RUN
        )
        queues = await repository.defer_queues(conn, [run_id]) if outcome == "requeued" else []
    for queue in queues:
        runtime.wakeup.request(queue)
    if outcome == "dead":
        logger.error("a run whose worker died during every attempt is dead", extra={"run": run_id, "job": job_id})
    elif outcome == "requeued":
        logger.warning("queued again a run whose worker died", extra={"run": run_id, "job": job_id})
    return int(outcome == "requeued")


async def recover_orphaned_runs(runtime: Runtime[SettingsT]) -> dict[str, int]:
    """Queue again the runs left active by a job that failed or vanished (a database error while claiming or
    finishing the run outlasted the executor's retries); dead, and alerted, after `max_job_recoveries`."""
    counts = {"requeued": 0, "dead": 0}
    async with runtime.database.connection() as conn:
        orphans = await repository.orphaned_runs(conn, runtime.service.name)
    for run_id in orphans:
        async with runtime.database.transaction() as conn:
            outcome = await repository.recover_orphan(conn, run_id, max_recoveries=runtime.settings.max_job_recoveries)
            queues = await repository.defer_queues(conn, [run_id]) if outcome == "requeued" else []
        if outcome is None:
            continue
        counts[outcome] += 1
        for queue in queues:
            runtime.wakeup.request(queue)
        if outcome == "requeued":
            logger.warning("queued again a run whose job ended without finishing it", extra={"run": run_id})
        else:
            logger.error("a run whose job kept ending without finishing it is dead", extra={"run": run_id})
    return counts


async def check_silent_triggers(runtime: Runtime[SettingsT]) -> list[str]:
    """The dead-man's switch: an automation that declared `silent_after` and has had no event for longer (counted
    from its last event, or from when its code last started), or a poller that has not succeeded for longer than
    its `silent_after` (default: three intervals)."""
    now = datetime.now(UTC)
    silent: list[tuple[str, float, float]] = []  # (name, silent for, allowed)
    async with runtime.database.connection() as conn:
        for automation in runtime.service.automations.values():
            if not automation.silent_after_s:
                continue
            last = await housekeeping_repository.last_sign_of_life(
                conn, source=automation.source, automation=automation.name
            )
            if last is not None:
                silent.append((automation.name, (now - last).total_seconds(), automation.silent_after_s))
        for poller in runtime.service.pollers.values():
            allowed = poller.silent_after_s or 3 * poller.interval(runtime.settings)
            last_ok = await housekeeping_repository.last_poll_ok(conn, poller.source, default=runtime.started_at)
            if last_ok is not None:
                silent.append((poller.source, (now - last_ok).total_seconds(), allowed))
    alerted = []
    for name, silent_for, allowed in silent:
        if silent_for > allowed:
            alerted.append(name)
            await alerts.silent_trigger(runtime, automation=name, silent_for_s=silent_for, limit_s=allowed)
    return alerted


async def prune(runtime: Runtime[SettingsT]) -> dict[str, int]:
    """Delete succeeded and filtered runs after `run_retention_days`, dead ones after `dead_retention_days`, the
    events no run needs any more, and finished queue jobs."""
    settings = runtime.settings
    service = runtime.service.name
    counts = {}
    async with runtime.database.connection() as conn:
        counts["runs"] = await housekeeping_repository.prune_runs(
            conn,
            service,
            keep_days=settings.run_retention_days,
            keep_dead_days=settings.dead_retention_days,
            batch=PRUNE_BATCH,
        )
        counts["events"] = await housekeeping_repository.prune_events(
            conn, service, keep_days=settings.run_retention_days, batch=PRUNE_BATCH
        )
    for queue in runtime.service.queues:
        await runtime.queue.job_manager.delete_old_jobs(
            nb_hours=24 * settings.run_retention_days, queue=queue, include_failed=True
        )
    if counts["runs"] or counts["events"]:
        logger.info("pruned old records", extra=counts)
    return counts
