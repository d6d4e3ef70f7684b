"""RingCentral records turned into Zaps events: what kinds exist, when each fires, and its dedup key.

- `call.completed` (key `call:<id>`): once per call, when it enters the call log (RingCentral adds a call only
  when it has ended);
- `call.missed` (`missed:<id>`): once per inbound call that nobody answered, voicemail included;
- `call.recording_ready` (`recording:<id>`): once per call, when its record first shows a recording (often
  minutes after the call);
- `voicemail.received` (`voicemail:<id>`): once per voicemail, when its transcription is final, or after a wait
  without it;
- `sms.received` (`sms:<id>`): once per inbound SMS;
- `sms.sent` (`sms:<id>`): once per outbound SMS, when RingCentral reports it sent or delivered (not while queued).

Records change after creation. A call's later changes do not fire `call.completed` again (as with Zapier); the
one change worth acting on, a recording arriving, has its own kind. A voicemail waits for its transcription (see
`VoicemailWait`). The keys hold the record id only, so the overlap between sync windows, a full sync after a
reset and a backfill are all absorbed by the engine's unique (source, key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zaps import NewEvent

CALL_COMPLETED = "call.completed"
CALL_MISSED = "call.missed"
CALL_RECORDING_READY = "call.recording_ready"
VOICEMAIL_RECEIVED = "voicemail.received"
SMS_RECEIVED = "sms.received"
SMS_SENT = "sms.sent"
CALL_KINDS = (CALL_COMPLETED, CALL_MISSED, CALL_RECORDING_READY)
MESSAGE_KINDS = (VOICEMAIL_RECEIVED, SMS_RECEIVED, SMS_SENT)
KINDS = CALL_KINDS + MESSAGE_KINDS

# Results of an inbound call that nobody at the company picked up (research §2.1). "Answered Elsewhere" is not
# missed: another extension took it.
MISSED_RESULTS = frozenset(
    {"Missed", "Voicemail", "Sent to Voicemail", "No Answer", "Hang Up", "Busy", "Rejected", "Abandoned"}
)
# Transcription states after which nothing more will come (research §2.6).
FINAL_TRANSCRIPTION = frozenset({"Completed", "CompletedPartially", "Failed", "TimedOut", "NotAvailable", "Unknown"})
SENT_STATUSES = frozenset({"Sent", "Delivered"})


def parse_time(value: Any) -> datetime | None:
    """RingCentral's ISO times ("2026-12-01T09:30:12.000Z"); None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _party(value: Any) -> dict[str, Any]:
    party = value if isinstance(value, dict) else {}
    return {
        "number": party.get("phoneNumber"),
        "name": party.get("name"),
        "extension": party.get("extensionNumber"),
    }


def call_summary(record: dict[str, Any]) -> dict[str, Any]:
    """What an automation usually needs from a call record; the whole record stays under `record`."""
    recording = record.get("recording") if isinstance(record.get("recording"), dict) else None
    return {
        "id": str(record.get("id")),
        "session_id": record.get("sessionId"),
        "start_time": record.get("startTime"),
        "duration_s": record.get("duration"),
        "direction": record.get("direction"),
        "result": record.get("result"),
        "from": _party(record.get("from")),
        "to": _party(record.get("to")),
        "recording": {"id": recording.get("id"), "content_uri": recording.get("contentUri")} if recording else None,
        "record": record,
    }


def call_events(record: dict[str, Any]) -> list[NewEvent]:
    """The events one call-log record gives (none for a deleted record or one without an id)."""
    if record.get("deleted") or not record.get("id"):
        return []
    summary = call_summary(record)
    call_id = summary["id"]
    events = [NewEvent(key=f"call:{call_id}", payload=summary, kind=CALL_COMPLETED)]
    if record.get("direction") == "Inbound" and record.get("result") in MISSED_RESULTS:
        events.append(NewEvent(key=f"missed:{call_id}", payload=summary, kind=CALL_MISSED))
    if summary["recording"]:
        events.append(NewEvent(key=f"recording:{call_id}", payload=summary, kind=CALL_RECORDING_READY))
    return events


def message_summary(record: dict[str, Any]) -> dict[str, Any]:
    to = record.get("to")
    attachments = [a for a in record.get("attachments") or [] if isinstance(a, dict)]
    audio = next((a for a in attachments if a.get("type") == "AudioRecording"), None)
    transcript = next((a for a in attachments if a.get("type") == "AudioTranscription"), None)
    return {
        "id": str(record.get("id")),
        "type": record.get("type"),
        "direction": record.get("direction"),
        "created": record.get("creationTime"),
        "from": _party(record.get("from")),
        "to": [_party(party) for party in to] if isinstance(to, list) else [],
        "subject": record.get("subject"),
        "message_status": record.get("messageStatus"),
        "transcription_status": record.get("vmTranscriptionStatus"),
        "voicemail_duration_s": audio.get("vmDuration") if audio else None,
        "audio_uri": audio.get("uri") if audio else None,
        "transcription_uri": transcript.get("uri") if transcript else None,
        "record": record,
    }


@dataclass(frozen=True)
class Pending:
    """A voicemail whose transcription is still in progress, held in the poll cursor until it is final."""

    record: dict[str, Any]
    since: datetime


def message_events(
    record: dict[str, Any], *, now: datetime, pending: dict[str, Pending], wait_s: float
) -> list[NewEvent]:
    """The events one message-store record gives now; an unfinished voicemail goes into `pending` instead."""
    message_id = str(record.get("id") or "")
    if not message_id or record.get("availability") in ("Deleted", "Purged") or record.get("type") is None:
        return []
    kind = record.get("type")
    direction = record.get("direction")
    if kind == "SMS" and direction == "Inbound":
        return [NewEvent(key=f"sms:{message_id}", payload=message_summary(record), kind=SMS_RECEIVED)]
    if kind == "SMS" and direction == "Outbound" and record.get("messageStatus") in SENT_STATUSES:
        return [NewEvent(key=f"sms:{message_id}", payload=message_summary(record), kind=SMS_SENT)]
    if kind == "VoiceMail" and direction == "Inbound":
        if record.get("vmTranscriptionStatus") in FINAL_TRANSCRIPTION or wait_s <= 0:
            pending.pop(message_id, None)
            return [NewEvent(key=f"voicemail:{message_id}", payload=message_summary(record), kind=VOICEMAIL_RECEIVED)]
        earlier = pending.get(message_id)
        pending[message_id] = Pending(record=record, since=earlier.since if earlier else now)
    return []


def overdue_voicemails(pending: dict[str, Pending], *, now: datetime, wait_s: float) -> list[NewEvent]:
    """Voicemails that waited `wait_s` for a transcription: they fire without it (`transcription_status` says so)."""
    events = []
    for message_id, held in list(pending.items()):
        if (now - held.since).total_seconds() >= wait_s:
            del pending[message_id]
            payload = message_summary(held.record)
            payload["transcription_timed_out"] = True
            events.append(NewEvent(key=f"voicemail:{message_id}", payload=payload, kind=VOICEMAIL_RECEIVED))
    return events
