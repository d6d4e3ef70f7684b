"""The clock of each worker process: fires due schedules, runs due polls, and does the housekeeping.

Every replica runs it. A due timer row is claimed with `FOR UPDATE SKIP LOCKED` and moved to its next due time in
the same transaction that records what it did, so each tick fires once however many replicas run.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Generic
from zoneinfo import ZoneInfo

from zaps.context import Runtime
from zaps.engine import housekeeping, repository, timers_repository
from zaps.engine.automation import Automation
from zaps.engine.run import capped
from zaps.engine.triggers import NewEvent, PollContext, Poller, Schedule
from zaps.retry import retry_after_of
from zaps.settings import SettingsT

logger = logging.getLogger(__name__)

LATE_LIMIT = timedelta(minutes=10)  # a tick missed by more than this (the service was down) is skipped, not fired
MAX_POLL_EVENTS = 50_000  # one poll cannot flood the database: a poller must page through more than this
MAX_EVENT_BYTES = 1024 * 1024  # as for a webhook body: a larger record is stored truncated


def housekeeping_timer(service: str) -> str:
    return f"{service}.housekeeping"


async def register_timers(runtime: Runtime[SettingsT]) -> None:
    """Create the timers this service owns (existing ones keep their due time and cursor)."""
    service = runtime.service
    now = datetime.now(UTC)
    async with runtime.database.connection() as conn:
        for automation in service.automations.values():
            if isinstance(automation.trigger, Schedule):
                first = automation.trigger.next_after(now, runtime.settings)
                await repository.ensure_timer(
                    conn, name=automation.name, service=service.name, kind="schedule", first_due=first
                )
        for poller in service.pollers.values():
            await repository.ensure_timer(conn, name=poller.source, service=service.name, kind="poll", first_due=now)
        await repository.ensure_timer(
            conn, name=housekeeping_timer(service.name), service=service.name, kind="housekeeping", first_due=now
        )


class Ticker(Generic[SettingsT]):
    def __init__(self, runtime: Runtime[SettingsT]) -> None:
        self.runtime = runtime
        self.polls_in_flight: dict[str, asyncio.Task[None]] = {}
        self.woken: set[str] = set()  # queues given jobs by the schedule transaction in progress

    async def run(self) -> None:
        interval = self.runtime.settings.tick_interval_s
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("ticker pass failed; trying again")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        for task in self.polls_in_flight.values():
            task.cancel()
        await asyncio.gather(*self.polls_in_flight.values(), return_exceptions=True)

    async def tick(self) -> None:
        await self.fire_schedules()
        await self.start_polls()
        await self.housekeep()

    # --- schedules ---------------------------------------------------------------------------------------------

    async def fire_schedules(self) -> None:
        service = self.runtime.service
        self.woken = set()
        async with self.runtime.database.transaction() as conn:
            for timer in await timers_repository.claim_due_schedules(conn, service.name):
                automation = service.automations.get(timer.name)
                if automation is None or not isinstance(automation.trigger, Schedule):
                    continue  # declared by another version of the code; leave it to that one
                await self._fire(conn, automation, automation.trigger, timer.next_due_at)
        for queue in self.woken:  # after the commit: the workers then find the jobs
            self.runtime.wakeup.request(queue)

    async def _fire(
        self, conn: repository.Conn, automation: Automation[SettingsT], schedule: Schedule, tick: datetime
    ) -> None:
        now = datetime.now(UTC)
        event_id = None
        if now - tick > LATE_LIMIT:
            outcome = "skipped_late"
        elif await timers_repository.has_live_run(conn, automation.name):
            # A run queued or at work skips the tick; a stuck one, or one waiting to retry, does not
            # (`has_live_run` says why).
            outcome = "skipped_overlap"
        else:
            tick_local = tick.astimezone(ZoneInfo(schedule.timezone))
            ingested = await repository.ingest(
                conn,
                source=automation.name,
                key=tick.isoformat(),
                payload={
                    "tick": tick_local.isoformat(),
                    "cron": schedule.expression(self.runtime.settings),
                    "timezone": schedule.timezone,
                },
                kind="schedule.tick",
                code_version=self.runtime.settings.code_version,
            )
            event_id, outcome = ingested.event_id, "fired"
            self.woken.update(ingested.queues)
        await timers_repository.record_tick(
            conn, automation=automation.name, tick_at=tick, outcome=outcome, event_id=event_id
        )
        following = schedule.next_after(tick if outcome != "skipped_late" else now, self.runtime.settings)
        await timers_repository.schedule_next(conn, automation.name, following)
        if outcome != "fired":
            logger.warning("schedule tick skipped", extra={"automation": automation.name, "outcome": outcome})

    # --- polls -------------------------------------------------------------------------------------------------

    async def start_polls(self) -> None:
        service = self.runtime.service
        if not service.pollers:
            return
        busy = [name for name, task in self.polls_in_flight.items() if not task.done()]
        async with self.runtime.database.transaction() as conn:
            claimed = await timers_repository.claim_due_polls(conn, service.name, busy=busy)
            for timer in claimed:
                poller = service.pollers_by_source.get(timer.name)
                if poller is None:
                    continue
                await timers_repository.start_interval(conn, timer.name, poller.interval(self.runtime.settings))
        for timer in claimed:
            poller = service.pollers_by_source.get(timer.name)
            if poller is not None:
                self.polls_in_flight[timer.name] = asyncio.create_task(
                    self.poll(poller, timer.cursor, timer.version), name=f"poll {timer.name}"
                )

    async def poll(self, poller: Poller[SettingsT], cursor: Any, version: int) -> None:
        """Fetch, then store the events and the new cursor in one transaction (or neither)."""
        try:
            result = await poller.fetch(PollContext(cursor=cursor, runtime=self.runtime))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._poll_failed(poller, error)
            return
        events = list(result.events)
        if len(events) > MAX_POLL_EVENTS:
            # Storing a part and the new cursor would lose the rest for good; storing nothing keeps the old cursor,
            # and the failure shows on the status page, in readiness and in the silent-trigger alert.
            too_many = ValueError(f"the poll returned {len(events)} events, over {MAX_POLL_EVENTS}: nothing stored")
            await self._poll_failed(poller, too_many)
            return
        try:
            new = await self._store(poller, version, result.cursor, events)
        except Exception as error:  # nothing was stored: the next poll fetches the same records again
            await self._poll_failed(poller, error)
            return
        if new is None:
            return
        if events:
            logger.info("poll stored events", extra={"poller": poller.source, "found": len(events), "new": new})

    async def _store(self, poller: Poller[SettingsT], version: int, cursor: Any, events: list[NewEvent]) -> int | None:
        """The new cursor and the events, in one transaction; None if another replica moved the cursor first."""
        async with self.runtime.database.transaction() as conn:
            moved = await timers_repository.store_cursor(conn, poller.source, cursor=cursor, version=version)
            if not moved:
                # Another replica stored a newer cursor meanwhile; ours is stale. Store nothing: its events are
                # the same records, and the next poll starts from the newer cursor.
                logger.info("poll result dropped: cursor moved meanwhile", extra={"poller": poller.source})
                return None
            new, queues = 0, set()
            for event in events:
                ingested = await repository.ingest(
                    conn,
                    source=poller.source,
                    key=event.key,
                    kind=event.kind,
                    payload=capped(event.payload, MAX_EVENT_BYTES),
                    code_version=self.runtime.settings.code_version,
                )
                new += not ingested.duplicate
                queues.update(ingested.queues)
        for queue in queues:
            self.runtime.wakeup.request(queue)
        return new

    async def _poll_failed(self, poller: Poller[SettingsT], error: Exception) -> None:
        logger.warning("poll failed", extra={"poller": poller.source, "error": f"{type(error).__name__}: {error}"})
        wait = retry_after_of(error)
        async with self.runtime.database.connection() as conn:
            await timers_repository.record_poll_error(
                conn, poller.source, error=f"{type(error).__name__}: {error}"[:2000], retry_after_s=wait
            )

    # --- housekeeping ------------------------------------------------------------------------------------------

    async def housekeep(self) -> None:
        settings = self.runtime.settings
        name = housekeeping_timer(self.runtime.service.name)
        async with self.runtime.database.connection() as conn:
            due = await timers_repository.claim_if_due(conn, name, settings.housekeeping_interval_s)
        if not due:
            return
        await housekeeping.run_all(self.runtime)
        async with self.runtime.database.connection() as conn:
            await timers_repository.record_ok(conn, name)
