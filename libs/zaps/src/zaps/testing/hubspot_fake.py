"""A fake HubSpot on 127.0.0.1 that answers the documented CRM API the connector uses, so tests see real HTTP.

What it follows (HubSpot's developer docs): a private app's token as `Authorization: Bearer`, 401
INVALID_AUTHENTICATION without it and 403 MISSING_SCOPES (naming `requiredGranularScopes`) for a scope the app
lacks; POST /crm/v3/objects/{type}/batch/upsert, which creates or updates the record whose `idProperty` (a
property with unique values, else 400) holds `id`, answering `new`; PUT /crm/v4/objects/.../associations/default/...;
the properties API (GET/POST /crm/v3/properties/{type}, groups); and the 429 answer of the rate limiter, with its
body (policyName) and its X-HubSpot-RateLimit-* headers.

Tests inject failures: `fail(503, 429)` answers the next requests with those statuses before doing anything;
`stall_after_write(2.0)` applies the next write and then answers only after 2 s (a client's timeout: the write
happened but the sender cannot know).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"  # shaped like a private app token; fake
WRITE_SCOPE = "crm.objects.contacts.write"  # contacts, calls and notes are written under the contacts scopes
READ_SCOPE = "crm.objects.contacts.read"
SCHEMA_READ, SCHEMA_WRITE = "crm.schemas.contacts.read", "crm.schemas.contacts.write"
ALL_SCOPES = frozenset({WRITE_SCOPE, READ_SCOPE, SCHEMA_READ, SCHEMA_WRITE})
# HUBSPOT_DEFINED association type ids of the default association, each way (HubSpot's association type table).
ASSOCIATION_TYPES = {
    ("calls", "contacts"): 194,
    ("contacts", "calls"): 193,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
}
CALL_DIRECTIONS = {"INBOUND", "OUTBOUND"}
CALL_STATUSES = {
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
}
_DEFAULT_PROPERTIES = {
    "contacts": ["email", "firstname", "lastname", "phone", "mobilephone", "company"],
    "calls": [
        "hs_timestamp",
        "hs_call_body",
        "hs_call_direction",
        "hs_call_status",
        "hs_call_duration",
        "hs_call_recording_url",
        "hs_call_title",
        "hs_call_from_number",
        "hs_call_to_number",
        "hubspot_owner_id",
    ],
    "notes": ["hs_timestamp", "hs_note_body", "hubspot_owner_id", "hs_attachment_ids"],
}
# Values outside an enumeration property's documented options.
_OPTIONS = {"hs_call_direction": CALL_DIRECTIONS, "hs_call_status": CALL_STATUSES}
MAX_UNIQUE_PROPERTIES = 10  # per object type


Route = Callable[..., tuple[int, Any, dict[str, str]]]


class Answer(Exception):
    """An error answer, raised from deep in a handler."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message"))
        self.status, self.body, self.headers = status, body, headers or {}


def error(status: int, category: str, message: str, **extra: Any) -> Answer:
    return Answer(
        status,
        {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra},
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Fault:
    status: int | None = None  # answer this instead of doing anything
    stall_s: float = 0.0  # do the work, then answer this late
    interval_ms: int = 10_000  # for 429: the rolling window the headers announce
    policy: str = "TEN_SECONDLY_ROLLING"
    path: str | None = None  # only requests whose path contains this take it


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Property:
    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group: str = "default"
    unique: bool = False
    hubspot_defined: bool = True

    def answer(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group,
            "hasUniqueValue": self.unique,
            "hubspotDefined": self.hubspot_defined,
            "options": [],
        }


@dataclass
class State:
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    properties: dict[str, dict[str, Property]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    associations: set[tuple[str, str, str, str]] = field(default_factory=set)
    next_id: int = 51_000


class HubSpotFake:
    def __init__(
        self, *, token: str = TOKEN, scopes: frozenset[str] = ALL_SCOPES, idempotency_property: bool = True
    ) -> None:
        """`idempotency_property`: start with `zaps_idempotency_key` on calls and notes, as after the owner's
        one-off `ensure-properties` (False to test that step itself)."""
        self.token, self.scopes = token, scopes
        self.requests: list[Request] = []
        self.state = State()
        for object_type, names in _DEFAULT_PROPERTIES.items():
            self.state.objects[object_type] = {}
            self.state.groups[object_type] = {f"{object_type[:-1]}information"}
            props = {name: Property(name, name, unique=name == "email") for name in names}
            props["hs_object_id"] = Property("hs_object_id", "Record ID", type="number", unique=True)
            self.state.properties[object_type] = props
        if idempotency_property:
            for object_type in ("calls", "notes"):
                self.state.properties[object_type]["zaps_idempotency_key"] = Property(
                    "zaps_idempotency_key", "Zaps idempotency key", group="zaps", unique=True, hubspot_defined=False
                )
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HubSpotFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- failure injection

    def fail(
        self, *statuses: int, path: str | None = None, interval_ms: int = 10_000, policy: str = "TEN_SECONDLY_ROLLING"
    ) -> None:
        """Answer the next requests (to a path containing `path`, if given) with these statuses, doing nothing; a
        429 is the rate limiter's answer, for the rolling window of `interval_ms` or the DAILY `policy`."""
        with self._lock:
            self._faults.extend(Fault(s, interval_ms=interval_ms, policy=policy, path=path) for s in statuses)

    def stall_after_write(self, seconds: float, count: int = 1, *, path: str | None = None) -> None:
        """Apply the next `count` requests (to a path containing `path`), then answer each only after `seconds`."""
        with self._lock:
            self._faults.extend(Fault(stall_s=seconds, path=path) for _ in range(count))

    # -- what tests read

    def records(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self.state.objects[object_type].values()]

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        with self._lock:
            return sorted(
                t for f, fid, tt, t in self.state.associations if (f, fid, tt) == (from_type, from_id, to_type)
            )

    def has_property(self, object_type: str, name: str) -> bool:
        with self._lock:
            found = self.state.properties[object_type].get(name)
            return found is not None and found.unique

    # -- the API

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, headers) for one request; a stall fault is the caller's to honour."""
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        if headers.get("authorization") != f"Bearer {self.token}":
            raise error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                raise error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from None
        routes: list[tuple[str, str, Route]] = [
            ("POST", r"/crm/v3/objects/(\w+)/batch/upsert", self._upsert),
            ("PUT", r"/crm/v4/objects/(\w+)/(\d+)/associations/default/(\w+)/(\d+)", self._associate),
            ("GET", r"/crm/v3/objects/(\w+)", self._list),
            ("POST", r"/crm/v3/properties/(\w+)/groups", self._create_group),
            ("GET", r"/crm/v3/properties/(\w+)/(\w+)", self._read_property),
            ("POST", r"/crm/v3/properties/(\w+)", self._create_property),
        ]
        for verb, pattern, route in routes:
            matched = re.fullmatch(pattern, path)
            if verb == method and matched:
                with self._lock:
                    return route(*matched.groups(), payload=payload, query=query)
        raise error(404, "OBJECT_NOT_FOUND", f"No route for {method} {path}")

    def _need(self, scope: str) -> None:
        if scope not in self.scopes:
            raise error(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read more about required "
                "scopes here: https://developers.hubspot.com/scopes.",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )

    def _type(self, object_type: str) -> dict[str, Property]:
        if object_type not in self.state.properties:
            raise error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        return self.state.properties[object_type]

    def _upsert(
        self, object_type: str, *, payload: Any, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        self._need(WRITE_SCOPE)
        known = self._type(object_type)
        inputs = payload.get("inputs") if isinstance(payload, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise error(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a non-empty array")
        planned = []
        for item in inputs:  # all checked before any is applied: a batch with an error changes nothing
            id_property = item.get("idProperty") or query.get("idProperty", [""])[0]
            value, properties = item.get("id"), item.get("properties")
            if not id_property or not isinstance(value, str) or not value or not isinstance(properties, dict):
                raise error(400, "VALIDATION_ERROR", "Each input needs id, idProperty and properties")
            if id_property not in known:
                raise _invalid([(id_property, "PROPERTY_DOESNT_EXIST", f'Property "{id_property}" does not exist')])
            if not known[id_property].unique:
                raise error(
                    400,
                    "VALIDATION_ERROR",
                    f"{id_property} is not a unique identifier property for {object_type}: upsert needs a property "
                    "whose values are unique",
                )
            _check_values(object_type, known, properties)
            planned.append((id_property, value, {k: str(v) for k, v in properties.items()}))
        results = [self._apply(object_type, *plan) for plan in planned]
        answer = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
        return 200, answer, {}

    def _apply(self, object_type: str, id_property: str, value: str, properties: dict[str, str]) -> dict[str, Any]:
        records = self.state.objects[object_type]

        def same(held: str) -> bool:  # HubSpot matches emails whatever their case
            return held.lower() == value.lower() if id_property == "email" else held == value

        found = next((r for r in records.values() if same(str(r["properties"].get(id_property, "")))), None)
        now = _now()
        if found is None:
            self.state.next_id += 1
            record_id = str(self.state.next_id)
            found = {"id": record_id, "properties": {"hs_object_id": record_id}, "createdAt": now, "archived": False}
            records[record_id] = found
            new = True
        else:
            new = False
        found["properties"].update(properties)
        found["properties"][id_property] = value
        found["updatedAt"] = now
        return {**found, "properties": dict(found["properties"]), "new": new}

    def _associate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, *, payload: Any, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        self._need(WRITE_SCOPE)
        for object_type, object_id in ((from_type, from_id), (to_type, to_id)):
            if object_id not in self.state.objects.get(object_type, {}):
                raise error(404, "OBJECT_NOT_FOUND", f"No {object_type} with ID {object_id} exist")
        self.state.associations |= {(from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id)}
        results = [
            {
                "from": {"id": a},
                "to": {"id": b},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": ASSOCIATION_TYPES.get((ta, tb), 1),
                },
            }
            for (ta, a, tb, b) in ((from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id))
        ]
        return 200, {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}, {}

    def _list(self, object_type: str, *, payload: Any, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        self._need(READ_SCOPE)
        self._type(object_type)
        limit = int((query.get("limit") or ["10"])[0])
        records = list(self.state.objects[object_type].values())[:limit]
        return 200, {"results": records}, {}

    def _read_property(
        self, object_type: str, name: str, *, payload: Any, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        self._need(SCHEMA_READ)
        found = self._type(object_type).get(name)
        if found is None:
            raise error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {object_type}")
        return 200, found.answer(), {}

    def _create_group(
        self, object_type: str, *, payload: Any, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        self._need(SCHEMA_WRITE)
        self._type(object_type)
        name = payload.get("name") if isinstance(payload, dict) else None
        if not name or not payload.get("label"):
            raise error(400, "VALIDATION_ERROR", "name and label are required")
        if name in self.state.groups[object_type]:
            raise error(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists")
        self.state.groups[object_type].add(name)
        return 201, {"name": name, "label": payload["label"], "displayOrder": payload.get("displayOrder", -1)}, {}

    def _create_property(
        self, object_type: str, *, payload: Any, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        self._need(SCHEMA_WRITE)
        known = self._type(object_type)
        if not isinstance(payload, dict) or any(
            not payload.get(k) for k in ("name", "label", "type", "fieldType", "groupName")
        ):
            raise error(400, "VALIDATION_ERROR", "name, label, type, fieldType and groupName are required")
        name = payload["name"]
        if name in known:
            raise error(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        if payload["groupName"] not in self.state.groups[object_type]:
            raise error(400, "VALIDATION_ERROR", f"Property group {payload['groupName']} does not exist")
        unique = bool(payload.get("hasUniqueValue"))
        if unique and sum(p.unique and not p.hubspot_defined for p in known.values()) >= MAX_UNIQUE_PROPERTIES:
            raise error(400, "VALIDATION_ERROR", f"{object_type} already has {MAX_UNIQUE_PROPERTIES} unique properties")
        made = Property(
            name, payload["label"], payload["type"], payload["fieldType"], payload["groupName"], unique, False
        )
        known[name] = made
        return 201, made.answer(), {}

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.path is None or f.path in path), None)
            if fault is not None:
                self._faults.remove(fault)
            return fault

    def rate_limited(self, fault: Fault) -> Answer:
        daily = fault.policy == "DAILY"
        message = "You have reached your daily limit." if daily else "You have reached your ten_secondly_rolling limit."
        answer = error(429, "RATE_LIMITS", message, errorType="RATE_LIMIT", policyName=fault.policy)
        answer.headers = {
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": "0" if daily else "240000",
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(fault.interval_ms),
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Remaining": "0",
        }
        return answer


def _invalid(problems: list[tuple[str, str, str]]) -> Answer:
    """HubSpot's answer to bad property values: one VALIDATION_ERROR listing each property's problem."""
    listed = [{"isValid": False, "message": message, "error": code, "name": name} for name, code, message in problems]
    return error(
        400,
        "VALIDATION_ERROR",
        f"Property values were not valid: {json.dumps(listed)}",
        errors=[
            {"message": message, "code": code, "context": {"propertyName": [name]}} for name, code, message in problems
        ],
    )


def _check_values(object_type: str, known: dict[str, Property], properties: dict[str, Any]) -> None:
    problems = []
    for name, value in properties.items():
        text = str(value)
        if name not in known:
            problems.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
        elif name == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
            problems.append((name, "INVALID_EMAIL", f"Email address {text} is invalid"))
        elif name in _OPTIONS and text not in _OPTIONS[name]:
            problems.append((name, "INVALID_OPTION", f"{text} was not one of the allowed options"))
        elif name == "hs_call_recording_url" and not text.startswith("https://"):
            problems.append((name, "INVALID_URL", "Only HTTPS, secure URLs will be accepted"))
    if problems:
        raise _invalid(problems)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a client that timed out on a stalled answer
            return
        super().handle_error(request, client_address)


def _handler(fake: HubSpotFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(self.command, self.path, headers, body)
            with fake._lock:
                fake.requests.append(request)
            fault = fake.take_fault(self.path)
            extra: dict[str, str] = {}
            try:
                if fault is not None and fault.status == 429:
                    raise fake.rate_limited(fault)
                if fault is not None and fault.status is not None:
                    raise error(
                        fault.status, "INTERNAL_ERROR", "Service Unavailable" if fault.status == 503 else "Error"
                    )
                status, answer, extra = fake.handle(self.command, self.path, headers, body)
            except Answer as refused:
                status, answer, extra = refused.status, refused.body, refused.headers
            request.status = status
            if fault is not None and fault.stall_s:
                time.sleep(fault.stall_s)
            encoded = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json;charset=utf-8")
            self.send_header("x-hubspot-correlation-id", str(uuid.uuid4()))
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
