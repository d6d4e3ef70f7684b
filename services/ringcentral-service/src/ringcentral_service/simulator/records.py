"""What a call-log record and a message look like on the wire, built from the simulator's stored ones.

Field names and enum values follow the official spec (`CallLogRecord`, `GetMessageInfoResponse`,
`MessageAttachmentInfo`); the contract test checks every answer against it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Inbound results that count as "not answered" for statusGroup=Missed.
MISSED_RESULTS = frozenset({"Missed", "Voicemail", "Sent to Voicemail", "No Answer", "Abandoned", "Hang Up"})


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> float:
    """RingCentral accepts ISO 8601 with a timezone; `Z` is the usual spelling."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a timezone is required")
    return moment.timestamp()


@dataclass
class Links:
    """Absolute URIs as RingCentral returns them: API host for metadata, media host for content."""

    api: str
    media: str
    account_id: str

    def account(self) -> str:
        return f"{self.api}/restapi/v1.0/account/{self.account_id}"

    def media_account(self) -> str:
        return f"{self.media}/restapi/v1.0/account/{self.account_id}"

    def extension(self, extension_id: str) -> str:
        return f"{self.account()}/extension/{extension_id}"


@dataclass
class StoredCall:
    id: str
    extension_id: str
    start: float
    fields: dict[str, Any]  # the record's own fields (direction, result, from, to, …)
    seq: int  # change number: ISync returns what changed after the token's change number
    modified_at: float
    recording_id: str | None = None
    message_id: int | None = None
    deleted: bool = False

    @property
    def missed(self) -> bool:
        return self.fields.get("direction") == "Inbound" and self.fields.get("result") in MISSED_RESULTS


@dataclass
class StoredAttachment:
    id: int
    type: str
    content_type: str
    content: bytes
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredMessage:
    id: int
    extension_id: str
    created: float
    fields: dict[str, Any]
    seq: int
    modified_at: float
    attachments: list[StoredAttachment] = field(default_factory=list)


def render_call(call: StoredCall, links: Links, *, detailed: bool) -> dict[str, Any]:
    fields = copy.deepcopy(call.fields)
    record: dict[str, Any] = {
        "uri": f"{links.extension(call.extension_id)}/call-log/{call.id}",
        "id": call.id,
        **fields,
        "startTime": iso(call.start),
        "extension": {"id": int(call.extension_id), "uri": links.extension(call.extension_id)},
    }
    if call.recording_id is not None:
        record["recording"] = {
            "id": call.recording_id,
            "uri": f"{links.account()}/recording/{call.recording_id}",
            "type": "Automatic",
            "contentUri": f"{links.media_account()}/recording/{call.recording_id}/content",
        }
    if call.message_id is not None:
        record["message"] = {
            "id": str(call.message_id),
            "type": "VoiceMail",
            "uri": f"{links.extension(call.extension_id)}/message-store/{call.message_id}",
        }
    if call.deleted:
        record["deleted"] = True
    if detailed:
        # Only the Detailed view carries legs and lastModifiedTime (research §2.1).
        record["lastModifiedTime"] = iso(call.modified_at)
        leg = {
            key: record[key]
            for key in ("startTime", "duration", "type", "direction", "action", "result", "from", "to", "transport")
            if key in record
        }
        record["legs"] = [{**leg, "legType": "Accept" if fields.get("direction") == "Inbound" else "RingDirectly"}]
        record["legs"][0]["master"] = True
    return record


def render_message(message: StoredMessage, links: Links) -> dict[str, Any]:
    base = f"{links.extension(message.extension_id)}/message-store/{message.id}"
    media = f"{links.media_account()}/extension/{message.extension_id}/message-store/{message.id}/content"
    record: dict[str, Any] = {
        "uri": base,
        "id": message.id,
        "extensionId": message.extension_id,
        **copy.deepcopy(message.fields),
        "creationTime": iso(message.created),
        "lastModifiedTime": iso(message.modified_at),
        "attachments": [
            {
                "id": attachment.id,
                "uri": f"{media}/{attachment.id}",
                "type": attachment.type,
                "contentType": attachment.content_type,
                "size": len(attachment.content),
                **attachment.extra,
            }
            for attachment in message.attachments
        ],
    }
    return record
