"""The two poll streams: the call log (`call-log-sync`) and the message store (`message-sync`).

Each poll is one request when nothing happened: an ISync with the sync token kept in the engine's cursor. The
cursor is stored in the same transaction as the events the poll produced, so a crash between the fetch and the
commit fetches the same records again and the events' unique keys absorb the repeat.

A full sync (FSync) runs on the first poll (from a configurable look-back), when RingCentral refuses the token
(CLG-10x, MSG-333, or more than 250 changes waiting) and when the call-log level setting changes. A full sync
returns at most 250 records, so when it comes back full the call log is read page by page (`call-log`, 1,000 a
page) from the last sync time minus an overlap, since a call enters the log only when it ends.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from zaps import NewEvent, PollContext, PollResult
from zaps.context import Runtime
from zaps.service import Service

from ringcentral_service import demo, repository
from ringcentral_service.client import MAX_SYNC_RECORDS, RingCentralClient, SyncResult
from ringcentral_service.endpoints import StreamReporter, report_stream
from ringcentral_service.errors import SyncTokenInvalid
from ringcentral_service.events import Pending, call_events, message_events, overdue_voicemails, parse_time
from ringcentral_service.settings import Settings

logger = logging.getLogger(__name__)

CALLS = "calls"
MESSAGES = "messages"
MAX_PENDING_VOICEMAILS = 1000  # held in the cursor; beyond this the oldest fire without their transcription


def client_for(runtime: Runtime[Settings]) -> RingCentralClient:
    """The process's one RingCentral client (its token and rate budgets are shared through Redis anyway)."""
    settings = runtime.settings

    async def close(client: RingCentralClient) -> None:
        await client.aclose()

    def make() -> RingCentralClient:
        if settings.ringcentral_demo:  # the simulator inside this process: nothing goes onto the network
            return RingCentralClient.from_settings(settings, runtime.redis, transport=demo.transport(runtime))
        return RingCentralClient.from_settings(settings, runtime.redis)

    return runtime.resource("ringcentral-client", make, close)


def _frame_start(state: dict[str, Any] | None, settings: Settings, now: datetime) -> datetime:
    """Where a full sync starts: the look-back on the first poll, else the last sync time minus the overlap."""
    last = parse_time(state.get("sync_time")) if state else None
    if last is None:
        return now - timedelta(minutes=settings.ringcentral_first_sync_lookback_minutes)
    return last - timedelta(minutes=settings.ringcentral_backfill_overlap_minutes)


async def poll_calls(client: RingCentralClient, settings: Settings, cursor: Any, now: datetime) -> PollResult:
    level = settings.ringcentral_call_log_level
    state = cursor if isinstance(cursor, dict) and cursor.get("level") == level else None
    result: SyncResult | None = None
    records: list[dict[str, Any]] = []
    if state and state.get("sync_token"):
        try:
            result = await client.call_log_sync("ISync", sync_token=str(state["sync_token"]), level=level)
            records = result.records
        except SyncTokenInvalid as error:
            logger.warning("ringcentral: call log wants a full sync", extra={"codes": list(error.error_codes)})
    if result is None:
        start = _frame_start(state, settings, now)
        result = await client.call_log_sync("FSync", date_from=start, level=level)
        records = result.records
        if len(records) >= MAX_SYNC_RECORDS:
            records = await _backfill(client, settings, start, records)
    events = [event for record in records for event in call_events(record)]
    sync_time = result.sync_time or now.isoformat()
    return PollResult(events=events, cursor={"level": level, "sync_token": result.sync_token, "sync_time": sync_time})


async def _backfill(
    client: RingCentralClient, settings: Settings, start: datetime, synced: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every call since `start`, read page by page: the full sync held only the newest 250."""
    limit = settings.ringcentral_backfill_max_records
    found: dict[str, dict[str, Any]] = {str(record.get("id")): record for record in synced}
    async for record in client.iter_call_log(date_from=start, level=settings.ringcentral_call_log_level):
        call_id = str(record.get("id"))
        if len(found) >= limit and call_id not in found:  # one more call than the limit allows
            logger.error(
                "ringcentral: backfill stopped at its limit; older calls are not turned into events",
                extra={"limit": limit, "since": start.isoformat()},
            )
            break
        found.setdefault(call_id, record)
    logger.info("ringcentral: call log backfilled", extra={"records": len(found), "since": start.isoformat()})
    return list(found.values())


async def poll_messages(client: RingCentralClient, settings: Settings, cursor: Any, now: datetime) -> PollResult:
    state = cursor if isinstance(cursor, dict) else None
    pending = _load_pending(state)
    wait_s = settings.ringcentral_transcription_wait_seconds
    result: SyncResult | None = None
    if state and state.get("sync_token"):
        try:
            result = await client.message_sync("ISync", sync_token=str(state["sync_token"]))
        except SyncTokenInvalid as error:
            logger.warning("ringcentral: message store wants a full sync", extra={"codes": list(error.error_codes)})
    if result is None:
        result = await client.message_sync("FSync", date_from=_frame_start(state, settings, now))
    events: list[NewEvent] = []
    for record in result.records:
        events += message_events(record, now=now, pending=pending, wait_s=wait_s)
    events += overdue_voicemails(pending, now=now, wait_s=wait_s)
    while len(pending) > MAX_PENDING_VOICEMAILS:
        oldest = min(pending, key=lambda key: pending[key].since)
        events += overdue_voicemails({oldest: pending.pop(oldest)}, now=now, wait_s=0)
    return PollResult(
        events=events,
        cursor={
            "sync_token": result.sync_token,
            "sync_time": result.sync_time or now.isoformat(),
            "pending_voicemails": {
                key: {"record": held.record, "since": held.since.isoformat()} for key, held in pending.items()
            },
        },
    )


def _load_pending(state: dict[str, Any] | None) -> dict[str, Pending]:
    raw = state.get("pending_voicemails") if state else None
    pending: dict[str, Pending] = {}
    for key, value in (raw or {}).items():
        since = parse_time(value.get("since")) if isinstance(value, dict) else None
        if since is not None and isinstance(value.get("record"), dict):
            pending[str(key)] = Pending(record=value["record"], since=since)
    return pending


def register(service: Service[Settings]) -> None:
    """Declare both streams on the service; each polls every RINGCENTRAL_POLL_INTERVAL_SECONDS."""

    async def fetch(poll: PollContext[Settings], stream: str) -> PollResult:
        settings = poll.runtime.settings
        if not settings.ringcentral_configured:
            return PollResult(events=(), cursor=poll.cursor)  # the status page says "not configured"
        client = client_for(poll.runtime)
        now = datetime.now(UTC)
        if stream == CALLS:
            return await poll_calls(client, settings, poll.cursor, now)
        return await poll_messages(client, settings, poll.cursor, now)

    async def calls(poll: PollContext[Settings]) -> PollResult:
        return await fetch(poll, CALLS)

    async def messages(poll: PollContext[Settings]) -> PollResult:
        return await fetch(poll, MESSAGES)

    for stream, fetch_stream in ((CALLS, calls), (MESSAGES, messages)):
        poller = service.poller(stream, every_setting="ringcentral_poll_interval_seconds")(fetch_stream)
        report_stream(stream)(_reporter(poller.source))


def _reporter(source: str) -> StreamReporter:
    async def report(runtime: Runtime[Settings]) -> dict[str, Any]:
        """Last poll, its error, the age of the sync token, and the events of the last 24 hours."""
        async with runtime.database.connection() as conn:
            status = await repository.stream_status(conn, source)
        if status is None:
            return {"last_poll_at": None, "events_24h": 0}
        now = datetime.now(UTC)
        synced = parse_time(status.sync_time)
        return {
            "last_poll_at": status.last_ok_at.isoformat() if status.last_ok_at else None,
            "last_poll_age_s": round((now - status.last_ok_at).total_seconds(), 1) if status.last_ok_at else None,
            "cursor_age_s": round((now - synced).total_seconds(), 1) if synced else None,
            "last_error": status.last_error,
            "last_error_at": status.last_error_at.isoformat() if status.last_error_at else None,
            "next_poll_at": status.next_due_at.isoformat(),
            "events_24h": status.events_24h,
        }

    return report
