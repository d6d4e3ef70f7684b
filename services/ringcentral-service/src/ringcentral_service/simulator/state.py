"""What the simulated RingCentral account holds and how it answers: tokens, records, sync tokens, rate limits, faults.

It is plain synchronous Python behind one lock, so the HTTP layer (`routes`) stays thin and a test can run the
server in a thread. Behaviour follows the research notes (`shared/research/ringcentral.md`):

- token grant (JWT and refresh_token) with configurable lifetimes; refresh tokens are single-use and a refresh
  kills the session's previous access token; an expired or unknown access token gets 401;
- call-log-sync: FSync returns the newest `recordCount` (≤ 250, required) records of the sync frame; ISync returns
  what changed since the token; more than 250 waiting → 400 "Parameter [syncToken] is invalid [max sync record
  number limit is exceeded]"; a reset makes every older token fail with a CLG-10x code;
- message-sync: the same, with `olderRecordsExist`, MSG-333 after a reset, and ISync windows that overlap the
  previous one by 5 s (so a consumer sees repeats, as with RingCentral);
- records change after creation (a recording, a transcription) and come back in ISync with a new
  `lastModifiedTime`;
- per-group sliding-window budgets with `X-Rate-Limit-*` headers, 429 + Retry-After when spent, and a penalty that
  restarts on every request made during it; forced faults (any status, a delay) on demand.

Error codes the research does not document (the token endpoint's OAU codes, 5xx bodies) are the simulator's
choice; the client must not depend on them, only on the status, the RFC 6749 `error` field and the documented
codes.
"""

from __future__ import annotations

import base64
import collections
import itertools
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from ringcentral_service.simulator.answers import (
    Answer,
    Exchange,
    QueryView,
    error_answer,
    invalid,
    oauth_error,
    rate_headers,
    seconds,
)
from ringcentral_service.simulator.config import Fault, GroupLimit, SimulatorConfig, SimulatorError
from ringcentral_service.simulator.records import (
    Links,
    StoredAttachment,
    StoredCall,
    StoredMessage,
    iso,
    parse_iso,
    render_call,
    render_message,
)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_SYNC_RECORDS = 250
MESSAGE_TYPES = ("Fax", "SMS", "VoiceMail", "Pager")
# A few bytes that start like an MP3 file: enough for a download test, small enough to keep in memory.
FAKE_AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64)
FAKE_PDF = b"%PDF-1.4\n%simulated fax\n%%EOF\n"


@dataclass
class Session:
    id: str
    access_token: str | None
    access_expires_at: float
    refresh_token: str | None
    refresh_expires_at: float
    revoked: bool = False


@dataclass
class SyncFrame:
    kind: str  # "call" or "message"
    scope: str  # "extension" or "account"
    extension_id: str
    date_from: float | None
    seq: int
    synced_at: float
    status_group: str = "All"
    message_types: tuple[str, ...] = MESSAGE_TYPES
    epoch: int = 0


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.base_config = config or SimulatorConfig()
        self.reset(self.base_config.with_overrides({}))

    # --- state -------------------------------------------------------------------------------------------

    def reset(self, config: SimulatorConfig | None = None) -> None:
        with self._lock:
            self.config = config or self.base_config.with_overrides({})
            self.clock_offset = 0.0
            self.sessions: dict[str, Session] = {}
            self.calls: dict[str, StoredCall] = {}
            self.messages: dict[int, StoredMessage] = {}
            self.recordings: dict[str, bytes] = {}
            self.sync_frames: dict[str, SyncFrame] = {}
            self.sync_epoch = 0
            self.sync_reset_code = "CLG-101"
            self.faults: list[Fault] = []
            self.sent_sms: list[dict[str, Any]] = []
            self.requests: collections.Counter[str] = collections.Counter()
            self.grants: collections.Counter[str] = collections.Counter()
            self.requests_in_penalty = 0
            # Bounded: in demo mode the simulator runs for days.
            self.exchanges: collections.deque[Exchange] = collections.deque(maxlen=5000)
            self.rate_windows: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
            self.penalty_until: dict[str, float] = {}
            self._seq = itertools.count(1)
            self.seq = 0
            # Ids start from the clock: records made after a restart (demo mode keeps nothing) must not reuse the
            # ids of earlier ones, which the events table still holds as seen.
            start = int(time.time() * 1000)
            self._call_ids = itertools.count(start * 1000)
            self._message_ids = itertools.count(start * 1000)  # messages and attachments share the sequence
            self._attachment_ids = self._message_ids

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.clock_offset += seconds

    def _next_seq(self) -> int:
        self.seq = next(self._seq)
        return self.seq

    # --- control API -------------------------------------------------------------------------------------

    def add_call(self, **spec: Any) -> dict[str, Any]:
        """A finished call in the log. `voicemail=True` also leaves a voicemail; `recording=True` a recording."""
        with self._lock:
            return self._add_call(spec)

    def add_calls(self, count: int, **spec: Any) -> list[str]:
        with self._lock:
            return [self._add_call(dict(spec))["id"] for _ in range(count)]

    def _add_call(self, spec: dict[str, Any]) -> dict[str, Any]:
        config = self.config
        now = self.now()
        voicemail = bool(spec.pop("voicemail", False))
        recording = bool(spec.pop("recording", False))
        extension_id = str(spec.pop("extensionId", config.extension_id))
        direction = spec.get("direction", "Inbound")
        result = spec.get("result", "Voicemail" if voicemail else ("Missed" if direction == "Inbound" else "Accepted"))
        duration = int(spec.get("duration", 0 if result == "Missed" else 42))
        start = parse_iso(spec["startTime"]) if "startTime" in spec else now - duration - 20
        caller = {"phoneNumber": "+14155550123", "name": "Pat Caller", "location": "San Francisco, CA"}
        owner = {
            "phoneNumber": config.phone_numbers[0],
            "extensionNumber": config.extension_number,
            "extensionId": extension_id,
            "name": config.owner_name,
        }
        fields_ = {
            "sessionId": str(500_000_000 + len(self.calls) + 1),
            "telephonySessionId": f"s-sim{secrets.token_hex(8)}",
            "type": "Voice",
            "direction": direction,
            "action": "Phone Call",
            "result": result,
            "duration": duration,
            "durationMs": duration * 1000,
            "transport": "PSTN",
            "from": caller if direction == "Inbound" else owner,
            "to": owner if direction == "Inbound" else caller,
        }
        for key in ("from", "to", "action", "reason", "reasonDescription", "type", "transport", "sessionId"):
            if key in spec:
                fields_[key] = spec[key]
        call_id = f"SIMCALL{next(self._call_ids)}"
        call = StoredCall(
            id=call_id,
            extension_id=extension_id,
            start=start,
            fields=fields_,
            seq=self._next_seq(),
            modified_at=now,
        )
        self.calls[call_id] = call
        if recording:
            self._attach_recording(call)
        if voicemail:
            message = self._add_message(
                {
                    "type": "VoiceMail",
                    "direction": "Inbound",
                    "from": {k: v for k, v in fields_["from"].items() if k in ("phoneNumber", "name", "location")},
                    "extensionId": extension_id,
                    "vmDuration": max(duration, 5),
                }
            )
            call.message_id = message["id"]
        return self._call_summary(call)

    def _attach_recording(self, call: StoredCall) -> None:
        call.recording_id = str(700_000_000 + len(self.recordings) + 1)
        self.recordings[call.recording_id] = FAKE_AUDIO

    def _call_summary(self, call: StoredCall) -> dict[str, Any]:
        return {"id": call.id, "seq": call.seq, "recordingId": call.recording_id, "messageId": call.message_id}

    def update_call(self, call_id: str, **changes: Any) -> dict[str, Any]:
        """Change a call after the fact (`recording=True` adds a recording); it shows up again in ISync."""
        with self._lock:
            call = self.calls.get(call_id)
            if call is None:
                raise SimulatorError(f"no call {call_id}")
            if changes.pop("recording", False) and call.recording_id is None:
                self._attach_recording(call)
            if "deleted" in changes:
                call.deleted = bool(changes.pop("deleted"))
            call.fields.update(changes)
            call.seq = self._next_seq()
            call.modified_at = self.now()
            return self._call_summary(call)

    def add_message(self, **spec: Any) -> dict[str, Any]:
        with self._lock:
            return self._add_message(spec)

    def _add_message(self, spec: dict[str, Any]) -> dict[str, Any]:
        config = self.config
        now = self.now()
        kind = spec.get("type", "SMS")
        if kind not in MESSAGE_TYPES:
            raise SimulatorError(f"type must be one of {', '.join(MESSAGE_TYPES)}")
        direction = spec.get("direction", "Inbound")
        extension_id = str(spec.get("extensionId", config.extension_id))
        other = spec.get("from") if direction == "Inbound" else None
        other = other or {"phoneNumber": spec.get("phoneNumber", "+14155550123"), "name": "Pat Caller"}
        owner = {"phoneNumber": config.phone_numbers[0], "extensionNumber": config.extension_number}
        if direction == "Outbound" and "to" in spec:
            recipients = spec["to"]
        else:
            recipients = [owner] if direction == "Inbound" else [other]
        fields_: dict[str, Any] = {
            "type": kind,
            "direction": direction,
            "from": other if direction == "Inbound" else spec.get("from", owner),
            "to": recipients,
            "readStatus": "Unread" if direction == "Inbound" else "Read",
            "messageStatus": "Received" if direction == "Inbound" else "Sent",
            "availability": "Alive",
            "priority": "Normal",
            "conversationId": 9_000_000_000 + zlib.crc32(str(other.get("phoneNumber")).encode()) % 1_000_000,
        }
        message_id = next(self._message_ids)
        attachments: list[StoredAttachment] = []
        if kind == "SMS":
            text = str(spec.get("text", "Hello from the simulator"))
            fields_["subject"] = text  # an SMS's text is its subject
            attachments.append(StoredAttachment(next(self._attachment_ids), "Text", "text/plain", text.encode()))
        elif kind == "VoiceMail":
            fields_["subject"] = f"Voice Message from {other.get('name') or other.get('phoneNumber')}"
            fields_["vmTranscriptionStatus"] = spec.get("vmTranscriptionStatus", "InProgress")
            attachments.append(
                StoredAttachment(
                    next(self._attachment_ids),
                    "AudioRecording",
                    "audio/mpeg",
                    FAKE_AUDIO,
                    {"vmDuration": int(spec.get("vmDuration", 12))},
                )
            )
            if spec.get("transcription"):
                attachments.append(self._transcription(str(spec["transcription"])))
        elif kind == "Fax":
            fields_["subject"] = str(spec.get("text", "Fax"))
            fields_["faxPageCount"] = int(spec.get("faxPageCount", 1))
            fields_["faxResolution"] = "High"
            document = StoredAttachment(next(self._attachment_ids), "RenderedDocument", "application/pdf", FAKE_PDF)
            attachments.append(document)
        else:
            fields_["subject"] = str(spec.get("text", ""))
        created = parse_iso(spec["creationTime"]) if "creationTime" in spec else now
        message = StoredMessage(
            id=message_id,
            extension_id=extension_id,
            created=created,
            fields=fields_,
            seq=self._next_seq(),
            modified_at=now,
            attachments=attachments,
        )
        self.messages[message_id] = message
        return {"id": message_id, "seq": message.seq}

    def _transcription(self, text: str) -> StoredAttachment:
        return StoredAttachment(next(self._attachment_ids), "AudioTranscription", "text/plain", text.encode())

    def update_message(self, message_id: int, **changes: Any) -> dict[str, Any]:
        """Change a message (`transcription="…"` completes a voicemail's transcription); ISync returns it again."""
        with self._lock:
            message = self.messages.get(int(message_id))
            if message is None:
                raise SimulatorError(f"no message {message_id}")
            transcription = changes.pop("transcription", None)
            if transcription is not None:
                message.attachments.append(self._transcription(str(transcription)))
                changes.setdefault("vmTranscriptionStatus", "Completed")
            message.fields.update(changes)
            message.seq = self._next_seq()
            message.modified_at = self.now()
            return {"id": message.id, "seq": message.seq}

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_rate_limit(self, group: str, limit: GroupLimit) -> None:
        with self._lock:
            self.config.rate_limits[group] = limit

    def revoke_sessions(self, *, refresh: bool = True) -> None:
        """End every session (as a password change or an admin would); with refresh=False only access tokens die."""
        with self._lock:
            for session in self.sessions.values():
                session.access_token = None
                if refresh:
                    session.revoked = True

    def reset_sync(self, error_code: str = "CLG-101") -> None:
        """RingCentral reset the logs: every sync token issued so far now fails (CLG-10x, MSG-333 for messages)."""
        with self._lock:
            self.sync_epoch += 1
            self.sync_reset_code = error_code

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {
                "by_operation": dict(self.requests),
                "token_grants": dict(self.grants),
                "requests_during_penalty": self.requests_in_penalty,
                "total": sum(self.requests.values()),
            }

    def sms_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self.sent_sms]

    def recorded(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    # --- request pipeline --------------------------------------------------------------------------------

    def take_fault(self, operation: str) -> Fault | None:
        with self._lock:
            self.requests[operation] += 1
            for fault in self.faults:
                if fault.operation in ("*", operation):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
            return None

    def fault_answer(self, fault: Fault, group: str) -> Answer:
        assert fault.status is not None
        status = fault.status
        default_codes = {429: "CMN-301", 401: "OAU-128", 503: "CMN-201"}
        code = fault.error_code or default_codes.get(status, f"SIM-{status}")
        message = fault.message or {429: "Request rate exceeded", 401: "Access token expired"}.get(
            status, "Simulated failure"
        )
        answer = error_answer(status, code, message)
        if fault.retry_after is not None:
            answer.headers["Retry-After"] = seconds(fault.retry_after)
        if status == 429:
            limit = self.config.rate_limits.get(group)
            answer.headers.update(rate_headers(group, limit, 0))
        return answer

    def authenticate(self, authorization: str | None) -> tuple[Session | None, Answer | None]:
        # Strict on purpose: "Bearer" with a capital B, as Prism demands and the client must send.
        if not authorization or not authorization.startswith("Bearer "):
            return None, error_answer(401, "OAU-123", "Authorization header is missing or not a Bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        with self._lock:
            for session in self.sessions.values():
                if session.access_token == token and not session.revoked:
                    if self.now() >= session.access_expires_at:
                        return None, error_answer(401, "OAU-128", "Access token expired", errorCode="TokenInvalid")
                    return session, None
        return None, error_answer(401, "OAU-129", "Access token corrupted or unknown", errorCode="TokenInvalid")

    def charge(self, group: str) -> tuple[dict[str, str], Answer | None]:
        """Count one request against `group`'s sliding window; a 429 when spent or during the penalty."""
        with self._lock:
            limit = self.config.rate_limits.get(group)
            if limit is None:
                return {}, None
            now = self.now()
            if now < self.penalty_until.get(group, 0.0):
                # Every request during the penalty starts it again (research §3).
                self.requests_in_penalty += 1
                self.penalty_until[group] = now + limit.penalty_s
                return {}, self._throttled(group, limit)
            window = self.rate_windows[group]
            while window and window[0] <= now - limit.window_s:
                window.popleft()
            if len(window) >= limit.limit:
                self.penalty_until[group] = now + limit.penalty_s
                return {}, self._throttled(group, limit)
            window.append(now)
            return rate_headers(group, limit, limit.limit - len(window)), None

    def _throttled(self, group: str, limit: GroupLimit) -> Answer:
        answer = error_answer(429, "CMN-301", "Request rate exceeded")
        answer.headers.update(rate_headers(group, limit, 0))
        answer.headers["Retry-After"] = seconds(limit.penalty_s)
        return answer

    # --- OAuth -------------------------------------------------------------------------------------------

    def token(self, authorization: str | None, content_type: str, form: dict[str, str]) -> Answer:
        config = self.config
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return Answer(415, {"errors": [{"errorCode": "CMN-415", "message": "Unsupported Media Type"}]})
        if authorization != "Basic " + base64.b64encode(f"{config.client_id}:{config.client_secret}".encode()).decode():
            return oauth_error("invalid_client", "OAU-146", "Invalid client credentials")
        grant = form.get("grant_type")
        with self._lock:
            now = self.now()
            if grant == JWT_GRANT:
                self.grants["jwt"] += 1
                if form.get("assertion") != config.jwt:
                    return oauth_error("invalid_grant", "OAU-140", "Invalid JWT assertion")
                session = Session(secrets.token_hex(8), None, 0.0, None, 0.0)
                self.sessions[session.id] = session
            elif grant == "refresh_token":
                self.grants["refresh_token"] += 1
                presented = form.get("refresh_token")
                found = next((s for s in self.sessions.values() if s.refresh_token == presented), None)
                if found is None or found.revoked or not presented or now >= found.refresh_expires_at:
                    return oauth_error("invalid_grant", "OAU-211", "Token is revoked or expired")
                session = found
            else:
                self.grants[str(grant)] += 1
                return oauth_error("unsupported_grant_type", "OAU-250", "Unsupported grant type")
            # A new pair each time: the old access token dies now, the old refresh token cannot be used again.
            session.access_token = "sim-at-" + secrets.token_urlsafe(24)
            session.access_expires_at = now + config.access_ttl_s
            session.refresh_token = "sim-rt-" + secrets.token_urlsafe(24)
            session.refresh_expires_at = now + config.refresh_ttl_s
            return Answer(
                200,
                {
                    "access_token": session.access_token,
                    "token_type": "bearer",
                    "expires_in": int(config.access_ttl_s),
                    "refresh_token": session.refresh_token,
                    "refresh_token_expires_in": int(config.refresh_ttl_s),
                    "scope": "ReadAccounts ReadCallLog ReadCallRecording ReadMessages SMS",
                    "owner_id": config.extension_id,
                    "endpoint_id": "sim-endpoint",
                    "session_id": session.id,
                },
            )

    # --- call log ----------------------------------------------------------------------------------------

    def _links(self, api_base: str) -> Links:
        return Links(api=api_base, media=self.config.media_url or api_base, account_id=self.config.account_id)

    def _calls_in(self, frame: SyncFrame) -> list[StoredCall]:
        found = []
        for call in self.calls.values():
            if frame.scope == "extension" and call.extension_id != frame.extension_id:
                continue
            if frame.date_from is not None and call.start < frame.date_from:
                continue
            if frame.status_group == "Missed" and not call.missed:
                continue
            found.append(call)
        return sorted(found, key=lambda c: (c.start, c.id), reverse=True)

    def call_log_sync(self, scope: str, query: QueryView, api_base: str, request_uri: str) -> Answer:
        with self._lock:
            sync_type = query.one("syncType") or "FSync"
            detailed = query.one("view") == "Detailed"
            if sync_type not in ("FSync", "ISync"):
                return invalid("syncType")
            if sync_type == "FSync":
                try:
                    record_count = int(query.one("recordCount") or "")
                    date_from = parse_iso(query.one("dateFrom") or "") if query.one("dateFrom") else None
                except ValueError:
                    return invalid("recordCount" if not query.one("recordCount") else "dateFrom")
                if not 1 <= record_count <= MAX_SYNC_RECORDS:
                    return invalid("recordCount")
                group = query.all("statusGroup")
                frame = SyncFrame(
                    kind="call",
                    scope=scope,
                    extension_id=self.config.extension_id,
                    date_from=date_from,
                    seq=self.seq,
                    synced_at=self.now(),
                    status_group="Missed" if group == ["Missed"] else "All",
                    epoch=self.sync_epoch,
                )
                calls = [c for c in self._calls_in(frame) if not c.deleted][:record_count]
            else:
                frame_or_error = self._frame(query.one("syncToken"), "call", scope)
                if isinstance(frame_or_error, Answer):
                    return frame_or_error
                frame = frame_or_error
                calls = [c for c in self._calls_in(frame) if c.seq > frame.seq]
                if query.one("showDeleted") != "true":
                    calls = [c for c in calls if not c.deleted]
                if len(calls) > MAX_SYNC_RECORDS:
                    return error_answer(
                        400,
                        "CMN-101",
                        "Parameter [syncToken] is invalid [max sync record number limit is exceeded]",
                        parameter="syncToken",
                    )
                frame = replace(frame, seq=self.seq, synced_at=self.now())
            links = self._links(api_base)
            return Answer(
                200,
                {
                    "uri": request_uri,
                    "records": [render_call(call, links, detailed=detailed) for call in calls],
                    "syncInfo": {
                        "syncType": sync_type,
                        "syncToken": self._issue(frame),
                        "syncTime": iso(frame.synced_at),
                    },
                },
            )

    def call_log_list(self, scope: str, query: QueryView, api_base: str, page_url: str) -> Answer:
        with self._lock:
            try:
                now = self.now()
                date_to = parse_iso(query.one("dateTo") or "") if query.one("dateTo") else now
                # The default frame is the last 24 hours, which is why the client always sends dateFrom.
                date_from = parse_iso(query.one("dateFrom") or "") if query.one("dateFrom") else date_to - 86_400
            except ValueError:
                return invalid("dateFrom")
            per_page_raw = query.one("perPage") or "100"
            page_raw = query.one("page") or "1"
            try:
                per_page = 1000 if per_page_raw == "max" else int(per_page_raw)
                page = int(page_raw)
            except ValueError:
                return invalid("perPage")
            if not 1 <= per_page <= 1000 or page < 1:
                return invalid("perPage" if not 1 <= per_page <= 1000 else "page")
            frame = SyncFrame("call", scope, self.config.extension_id, date_from, 0, now)
            calls = [c for c in self._calls_in(frame) if c.start <= date_to and not c.deleted]
            chunk = calls[(page - 1) * per_page : page * per_page]
            total_pages = max((len(calls) + per_page - 1) // per_page, 1)
            links = self._links(api_base)

            def page_uri(number: int) -> dict[str, str]:
                pairs = [(k, v) for k, v in query.pairs if k != "page"] + [("page", str(number))]
                return {"uri": f"{page_url}?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs)}

            navigation = {"firstPage": page_uri(1), "lastPage": page_uri(total_pages)}
            if page < total_pages:
                navigation["nextPage"] = page_uri(page + 1)
            if page > 1:
                navigation["previousPage"] = page_uri(page - 1)
            start = (page - 1) * per_page
            paging = {
                "page": page,
                "perPage": per_page,
                "totalPages": total_pages,
                "totalElements": len(calls),
            }
            if chunk:
                paging.update({"pageStart": start, "pageEnd": start + len(chunk) - 1})
            return Answer(
                200,
                {
                    "uri": page_uri(page)["uri"],
                    "records": [render_call(call, links, detailed=query.one("view") == "Detailed") for call in chunk],
                    "navigation": navigation,
                    "paging": paging,
                },
            )

    # --- messages ----------------------------------------------------------------------------------------

    def _messages_in(self, frame: SyncFrame) -> list[StoredMessage]:
        found = [
            message
            for message in self.messages.values()
            if message.extension_id == frame.extension_id
            and message.fields["type"] in frame.message_types
            and (frame.date_from is None or message.created >= frame.date_from)
        ]
        return sorted(found, key=lambda m: (m.created, m.id), reverse=True)

    def message_sync(self, query: QueryView, api_base: str, request_uri: str) -> Answer:
        with self._lock:
            sync_type = query.one("syncType") or "FSync"
            if sync_type not in ("FSync", "ISync"):
                return invalid("syncType")
            record_count_raw = query.one("recordCount")
            try:
                record_count = int(record_count_raw) if record_count_raw else None
            except ValueError:
                return invalid("recordCount")
            older = False
            if sync_type == "FSync":
                types = tuple(query.all("messageType")) or MESSAGE_TYPES
                if any(kind not in MESSAGE_TYPES for kind in types):
                    return invalid("messageType")
                now = self.now()
                try:
                    # The spec says the frame starts 24 h back by default (the Guide says a week).
                    date_from = parse_iso(query.one("dateFrom") or "") if query.one("dateFrom") else now - 86_400
                except ValueError:
                    return invalid("dateFrom")
                frame = SyncFrame(
                    kind="message",
                    scope="extension",
                    extension_id=self.config.extension_id,
                    date_from=date_from,
                    seq=self.seq,
                    synced_at=now,
                    message_types=types,
                    epoch=self.sync_epoch,
                )
                messages = self._messages_in(frame)
                if record_count is not None:
                    older = len(messages) > record_count
                    messages = messages[:record_count]
            else:
                frame_or_error = self._frame(query.one("syncToken"), "message", "extension")
                if isinstance(frame_or_error, Answer):
                    return frame_or_error
                frame = frame_or_error
                # RingCentral's ISync window starts 5 s before the previous sync ("ISync time + Delta").
                overlap_from = frame.synced_at - self.config.message_sync_overlap_s
                messages = [m for m in self._messages_in(frame) if m.seq > frame.seq or m.modified_at >= overlap_from]
                frame = replace(frame, seq=self.seq, synced_at=self.now())
            links = self._links(api_base)
            return Answer(
                200,
                {
                    "uri": request_uri,
                    "records": [render_message(message, links) for message in messages],
                    "syncInfo": {
                        "syncType": sync_type,
                        "syncToken": self._issue(frame),
                        "syncTime": iso(frame.synced_at),
                        "olderRecordsExist": older,
                    },
                },
            )

    def send_sms(self, body: Any, api_base: str) -> Answer:
        if not isinstance(body, dict):
            return error_answer(400, "CMN-101", "Request body is not a JSON object")
        sender = (body.get("from") or {}).get("phoneNumber") if isinstance(body.get("from"), dict) else None
        recipients = body.get("to")
        text = body.get("text")
        if not sender:
            return invalid("from.phoneNumber")
        if (
            not isinstance(recipients, list)
            or not recipients
            or not all(isinstance(r, dict) and r.get("phoneNumber") for r in recipients)
        ):
            return invalid("to")
        if not isinstance(text, str) or not text or len(text.encode("utf-16-le")) // 2 > 1000:
            return invalid("text")
        if sender not in self.config.phone_numbers:
            return error_answer(400, "MSG-304", "Phone number doesn't belong to extension", parameter="from")
        with self._lock:
            spec: dict[str, Any] = {
                "type": "SMS",
                "direction": "Outbound",
                "from": {"phoneNumber": sender},
                "to": [{"phoneNumber": r["phoneNumber"]} for r in recipients],
                "text": text,
            }
            created = self._add_message(spec)
            message = self.messages[created["id"]]
            # Accepted means queued; delivery is reported later through the message store.
            message.fields["messageStatus"] = "Queued"
            self.sent_sms.append(
                {"id": message.id, "from": sender, "to": [r["phoneNumber"] for r in recipients], "text": text}
            )
            return Answer(200, render_message(message, self._links(api_base)))

    # --- media -------------------------------------------------------------------------------------------

    def message_content(self, message_id: str, attachment_id: str) -> Answer:
        with self._lock:
            message = self.messages.get(int(message_id)) if message_id.isdigit() else None
            for attachment in message.attachments if message else []:
                if str(attachment.id) == attachment_id:
                    return Answer(200, attachment.content, content_type=attachment.content_type)
        return error_answer(404, "CMN-102", f"Resource for parameter [attachmentId] is not found: {attachment_id}")

    def recording_content(self, recording_id: str) -> Answer:
        with self._lock:
            content = self.recordings.get(recording_id)
        if content is None:
            return error_answer(404, "CMN-102", f"Resource for parameter [recordingId] is not found: {recording_id}")
        return Answer(200, content, content_type="audio/mpeg")

    # --- sync tokens -------------------------------------------------------------------------------------

    def _issue(self, frame: SyncFrame) -> str:
        token = secrets.token_urlsafe(24)
        self.sync_frames[token] = frame
        return token

    def _frame(self, token: str | None, kind: str, scope: str) -> SyncFrame | Answer:
        frame = self.sync_frames.get(token or "")
        if frame is None or frame.kind != kind or frame.scope != scope:
            return invalid("syncToken")
        if frame.epoch != self.sync_epoch:
            if kind == "message":
                return error_answer(400, "MSG-333", "Full synchronization is required")
            return error_answer(400, self.sync_reset_code, "Sync token expired, call log was reset")
        return frame
