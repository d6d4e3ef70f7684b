"""HubSpot: upsert a contact, log a call, create a note, each once per event however often a run is retried or
replayed.

    @service.automation(trigger, uses=[HubSpot])
    async def calls_to_crm(run: Run[Settings]) -> None:
        await hubspot.log_call(run, "log-call", contact_email="ann@example.com", direction="INBOUND",
                               status="COMPLETED", duration_ms=93_000)

Why it never creates twice: every write is an upsert on a unique-value property (POST
/crm/v3/objects/{type}/batch/upsert with `idProperty`). Contacts have a natural key, their email (or another unique
property the owner names). Calls and notes have none, so each carries `zaps_idempotency_key`, a unique custom
property holding the step's ledger key: a resend of the same step finds its call and updates it. The association
(PUT .../associations/default/...) is idempotent too. Search-then-create is not used: HubSpot's search lags its
writes by seconds, so a retry would not see the first try's object.

The owner creates the unique property once: `python -m zaps.connectors.hubspot ensure-properties` (docs/connectors.md).

Failures: 429 (with HubSpot's rate-limit headers) and 5xx retry; 401 (the token), 403 (a missing scope, named) and
400 (HubSpot's validation message) end the run as dead. A timeout after sending is unsure, and the rule is `resend`:
an upsert on the same unique value is safe to send again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx
from pydantic import Field, SecretStr

from zaps.actions.http import NOT_SENT, USER_AGENT
from zaps.connectors.base import ConnectorSettings, ConnectorSettingsError, connector, load_settings
from zaps.logging import redact
from zaps.retry import PermanentError, RetryableError, UnsureError, parse_retry_after

if TYPE_CHECKING:  # for annotations only: the engine imports the connectors' base
    from zaps.engine.run import OnUnsure, Run

# An upsert keyed on a unique value lands on the same object however often it is sent.
HUBSPOT_ON_UNSURE: OnUnsure = "resend"
IDEMPOTENCY_PROPERTY = "zaps_idempotency_key"  # on calls and notes: the step's ledger key, unique
PHONE_PROPERTY = "zaps_phone"  # on contacts, opt-in: a caller's number in E.164, unique (for phone-only events)
PROPERTY_GROUP = "zaps"
# The documented values of hs_call_direction and hs_call_status (HubSpot's calls guide).
CALL_DIRECTIONS = frozenset({"INBOUND", "OUTBOUND"})
CALL_STATUSES = frozenset(
    {"BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED", "IN_PROGRESS", "NO_ANSWER"}
    | {"QUEUED", "RINGING"}
)
# HubSpot's daily limit resets at midnight in the account's time zone, which we do not know: try again in an hour.
DAILY_LIMIT_WAIT_S = 3600.0


class HubSpotSettings(ConnectorSettings):
    hubspot_token: SecretStr  # a private app's access token
    hubspot_api_url: str = "https://api.hubapi.com"  # tests point it at the fake
    hubspot_timeout_s: float = Field(default=10.0, gt=0, le=120)


class HubSpot:
    """A client of HubSpot's CRM API, authenticated by a private app's token."""

    name: ClassVar[str] = "HubSpot"
    settings_class: ClassVar[type[ConnectorSettings]] = HubSpotSettings

    def __init__(self, *, token: str, api_url: str = "https://api.hubapi.com", timeout_s: float = 10.0) -> None:
        self._token = token
        self.client = httpx.AsyncClient(
            base_url=api_url.rstrip("/"), timeout=timeout_s, headers={"user-agent": USER_AGENT}
        )

    @classmethod
    def from_environment(cls) -> Self:
        settings = load_settings(HubSpotSettings, cls.name)
        return cls(
            token=settings.hubspot_token.get_secret_value(),
            api_url=settings.hubspot_api_url,
            timeout_s=settings.hubspot_timeout_s,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _send(self, method: str, path: str, *, what: str, json: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self._token}"}
        try:
            return await self.client.request(method, path, json=json, headers=headers)
        except NOT_SENT as error:  # nothing reached HubSpot: retry as usual
            raise RetryableError(f"HubSpot unreachable ({what}): {type(error).__name__}") from None
        except httpx.TransportError as error:  # a timeout or a lost connection after sending: it may be applied
            raise UnsureError(
                f"HubSpot did not answer after the request was sent ({what}): {type(error).__name__}"
            ) from None

    async def request(self, method: str, path: str, *, what: str, json: Any = None) -> Any:
        """HubSpot's JSON answer, or the engine's failure type for its error."""
        response = await self._send(method, path, what=what, json=json)
        if response.status_code >= 400:
            raise self.failure(response, what)
        return response.json() if response.content else None

    def failure(self, response: httpx.Response, what: str) -> Exception:
        """HubSpot's error answer as a RetryableError or PermanentError, its message kept, never the token."""
        body = _json_object(response)
        status, category = response.status_code, body.get("category") or body.get("errorType") or ""
        message = self._clean(str(body.get("message") or response.reason_phrase))
        if status == 429:
            policy = body.get("policyName") or "rate limit"
            return RetryableError(
                f"HubSpot rate limit ({policy}) on {what}: {message}", retry_after=_wait(response, body)
            )
        if status >= 500:
            wish = parse_retry_after(response.headers.get("retry-after"))
            return RetryableError(f"HubSpot answered {status} on {what}", retry_after=wish)
        if status == 401:
            return PermanentError(
                f"HubSpot refused the token on {what} (401 {category}): check HUBSPOT_TOKEN, a private app's access "
                "token that is current (it changes when rotated)"
            )
        if status == 403:
            scopes = _missing_scopes(body)
            named = f"the scope(s) {', '.join(scopes)}" if scopes else "a scope"
            return PermanentError(
                f"HubSpot: the private app lacks {named} needed to {what} (403 {category}); add it to the app's "
                "scopes in HubSpot (Settings > Integrations > Private Apps)"
            )
        details = [self._clean(str(item.get("message"))) for item in body.get("errors") or [] if isinstance(item, dict)]
        said = message + "".join(f"; {detail}" for detail in details if detail != message)
        text = f"HubSpot refused to {what} ({status} {category}): {said}"
        missing = "does not exist" in said or "PROPERTY_DOESNT_EXIST" in said
        if missing and (IDEMPOTENCY_PROPERTY in said or PHONE_PROPERTY in said):
            text += "; run `python -m zaps.connectors.hubspot ensure-properties` once to create the unique properties"
        return PermanentError(text)

    def _clean(self, text: str) -> str:
        return redact(text, [self._token])[:1000]

    async def upsert(
        self, object_type: str, id_property: str, value: str, properties: dict[str, str]
    ) -> dict[str, Any]:
        """Create or update the one `object_type` record whose unique `id_property` is `value`."""
        what = f"upsert {object_type} by {id_property}"
        body = {"inputs": [{"idProperty": id_property, "id": value, "properties": properties}]}
        answer = await self.request("POST", f"/crm/v3/objects/{object_type}/batch/upsert", what=what, json=body)
        errors = answer.get("errors") or []  # a 207 multi-status answer: the batch partly failed
        if errors:
            messages = "; ".join(self._clean(str(e.get("message"))) for e in errors if isinstance(e, dict))
            raise PermanentError(f"HubSpot refused to {what}: {messages}")
        results = answer.get("results") or []
        if len(results) != 1:
            raise RetryableError(f"HubSpot answered {len(results)} results to {what}, expected 1")
        result: dict[str, Any] = results[0]
        return result

    async def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """The default (unlabelled) association between two records; doing it twice changes nothing."""
        path = f"/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}"
        await self.request("PUT", path, what=f"associate {from_type} {from_id} with {to_type} {to_id}")

    async def check(self) -> str:
        """One harmless read (a contact, if any): proves the token and the contacts read scope."""
        await self.request("GET", "/crm/v3/objects/contacts?limit=1", what="read contacts")
        return "OK"

    async def ensure_properties(self, *, phone: bool = False) -> dict[str, str]:
        """Create the unique properties the steps upsert on, if missing: `zaps_idempotency_key` on calls and notes
        (and `zaps_phone` on contacts with `phone`). Returns what was done for each ("created" or "exists")."""
        wanted = [("calls", IDEMPOTENCY_PROPERTY), ("notes", IDEMPOTENCY_PROPERTY)]
        if phone:
            wanted.append(("contacts", PHONE_PROPERTY))
        done = {}
        for object_type, name in wanted:
            done[f"{object_type}.{name}"] = await self._ensure_unique(object_type, name)
        return done

    async def _ensure_unique(self, object_type: str, name: str) -> str:
        what = f"read the {object_type} property {name}"
        found = await self._send("GET", f"/crm/v3/properties/{object_type}/{name}", what=what)
        if found.status_code == 200:
            if not found.json().get("hasUniqueValue"):
                raise PermanentError(
                    f"the {object_type} property {name} exists but does not require unique values; HubSpot cannot "
                    "make an existing property unique: archive it and run this again"
                )
            return "exists"
        if found.status_code != 404:
            raise self.failure(found, what)
        group = {"name": PROPERTY_GROUP, "label": "Zaps", "displayOrder": -1}
        made = await self._send("POST", f"/crm/v3/properties/{object_type}/groups", what="create a group", json=group)
        if made.status_code >= 400 and made.status_code != 409:  # 409: the group is there already
            raise self.failure(made, f"create the {object_type} property group {PROPERTY_GROUP}")
        definition = {
            "name": name,
            "label": "Zaps idempotency key" if name == IDEMPOTENCY_PROPERTY else "Zaps phone (E.164)",
            "description": "Written by Zaps so that a retried or replayed step updates its record instead of "
            "creating another. Do not edit.",
            "groupName": PROPERTY_GROUP,
            "type": "string",
            "fieldType": "text",
            "hasUniqueValue": True,
        }
        await self.request("POST", f"/crm/v3/properties/{object_type}", what=f"create {what[9:]}", json=definition)
        return "created"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _wait(response: httpx.Response, body: dict[str, Any]) -> float | None:
    """How long to leave HubSpot alone after a 429: its Retry-After if sent; for the daily limit, an hour; for the
    rolling window, the window's length (X-HubSpot-RateLimit-Interval-Milliseconds)."""
    wish = parse_retry_after(response.headers.get("retry-after"))
    if wish is not None:
        return wish
    if body.get("policyName") == "DAILY":
        return DAILY_LIMIT_WAIT_S
    interval = response.headers.get("x-hubspot-ratelimit-interval-milliseconds")
    try:
        return float(interval) / 1000 if interval else None
    except ValueError:
        return None


def _missing_scopes(body: dict[str, Any]) -> list[str]:
    """The scopes HubSpot names in a MISSING_SCOPES answer (in `context` or in each of `errors`)."""
    found: list[str] = []
    contexts = [body.get("context")] + [e.get("context") for e in body.get("errors") or [] if isinstance(e, dict)]
    for context in contexts:
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "missingScopes", "requiredScopes"):
                found += [str(scope) for scope in context.get(key) or [] if str(scope) not in found]
    return found


def hubspot_time(moment: datetime | str | int) -> str:
    """hs_timestamp as HubSpot takes it: Unix milliseconds, or a UTC time."""
    if isinstance(moment, datetime):
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return str(moment)


# -- Step functions: each one ledger step, so a retry or a replay never sends it again once it succeeded.


async def _contact_id(
    hubspot: HubSpot,
    *,
    contact_id: str | None,
    email: str | None,
    key: tuple[str, str] | None,
    properties: dict[str, str] | None,
) -> str:
    if contact_id:
        return contact_id
    values = dict(properties or {})
    if email:
        values["email"] = email
        contact = await hubspot.upsert("contacts", "email", email, values)
    elif key:
        values[key[0]] = key[1]
        contact = await hubspot.upsert("contacts", key[0], key[1], values)
    else:
        raise ValueError("name the contact: contact_id, contact_email or contact_key=(unique property, value)")
    return str(contact["id"])


async def upsert_contact(
    run: Run[Any],
    step: str,
    *,
    email: str | None = None,
    properties: dict[str, Any] | None = None,
    id_property: str = "email",
    id_value: str | None = None,
    on_unsure: OnUnsure = HUBSPOT_ON_UNSURE,
) -> dict[str, Any]:
    """Create or update the contact whose `id_property` (email unless told) is `email` (or `id_value`)."""
    value = email if id_property == "email" else id_value
    if not value:
        raise ValueError(f"upsert_contact needs a value for {id_property}")
    values = {name: str(v) for name, v in (properties or {}).items()}
    if email:
        values["email"] = email

    async def send(key: str) -> dict[str, Any]:
        contact = await connector(run.runtime, HubSpot).upsert("contacts", id_property, value, values)
        return {"contact_id": str(contact["id"]), "new": bool(contact.get("new"))}

    recorded = {"id_property": id_property, "id": value, "properties": values}
    return await run.step(step, send, input=recorded, on_unsure=on_unsure)


async def log_call(
    run: Run[Any],
    step: str,
    *,
    direction: str,
    status: str,
    contact_email: str | None = None,
    contact_id: str | None = None,
    contact_key: tuple[str, str] | None = None,
    contact_properties: dict[str, str] | None = None,
    duration_ms: int | None = None,
    recording_url: str | None = None,
    body: str | None = None,
    title: str | None = None,
    from_number: str | None = None,
    to_number: str | None = None,
    timestamp: datetime | str | int | None = None,
    on_unsure: OnUnsure = HUBSPOT_ON_UNSURE,
) -> dict[str, Any]:
    """Log a call (HubSpot's calls object) on a contact: found by id, or upserted by email or by `contact_key`
    (a unique property and its value), with `contact_properties` written on it. `timestamp` defaults to when the
    event arrived, so a resend writes the same call."""
    if direction not in CALL_DIRECTIONS:
        raise ValueError(f"direction must be one of {sorted(CALL_DIRECTIONS)}, not {direction!r}")
    if status not in CALL_STATUSES:
        raise ValueError(f"status must be one of {sorted(CALL_STATUSES)}, not {status!r}")
    optional = {
        "hs_call_duration": duration_ms,
        "hs_call_recording_url": recording_url,
        "hs_call_body": body,
        "hs_call_title": title,
        "hs_call_from_number": from_number,
        "hs_call_to_number": to_number,
    }
    properties = {
        "hs_timestamp": hubspot_time(timestamp if timestamp is not None else run.event.received_at),
        "hs_call_direction": direction,
        "hs_call_status": status,
        **{name: str(value) for name, value in optional.items() if value is not None},
    }

    async def send(key: str) -> dict[str, Any]:
        hubspot = connector(run.runtime, HubSpot)
        contact = await _contact_id(
            hubspot, contact_id=contact_id, email=contact_email, key=contact_key, properties=contact_properties
        )
        call = await hubspot.upsert("calls", IDEMPOTENCY_PROPERTY, key, {**properties, IDEMPOTENCY_PROPERTY: key})
        await hubspot.associate("calls", str(call["id"]), "contacts", contact)
        return {"call_id": str(call["id"]), "contact_id": contact}

    recorded = {"contact": contact_id or contact_email or contact_key, "properties": properties}
    return await run.step(step, send, input=recorded, on_unsure=on_unsure)


async def create_note(
    run: Run[Any],
    step: str,
    *,
    body: str,
    contact_email: str | None = None,
    contact_id: str | None = None,
    contact_key: tuple[str, str] | None = None,
    contact_properties: dict[str, str] | None = None,
    timestamp: datetime | str | int | None = None,
    on_unsure: OnUnsure = HUBSPOT_ON_UNSURE,
) -> dict[str, Any]:
    """Add a note to a contact's timeline (the contact named as for `log_call`)."""
    properties = {
        "hs_timestamp": hubspot_time(timestamp if timestamp is not None else run.event.received_at),
        "hs_note_body": body,
    }

    async def send(key: str) -> dict[str, Any]:
        hubspot = connector(run.runtime, HubSpot)
        contact = await _contact_id(
            hubspot, contact_id=contact_id, email=contact_email, key=contact_key, properties=contact_properties
        )
        note = await hubspot.upsert("notes", IDEMPOTENCY_PROPERTY, key, {**properties, IDEMPOTENCY_PROPERTY: key})
        await hubspot.associate("notes", str(note["id"]), "contacts", contact)
        return {"note_id": str(note["id"]), "contact_id": contact}

    recorded = {"contact": contact_id or contact_email or contact_key, "properties": properties}
    return await run.step(step, send, input=recorded, on_unsure=on_unsure)


# -- The one-off set-up: python -m zaps.connectors.hubspot ensure-properties [--phone]


async def _ensure(phone: bool) -> int:
    try:
        hubspot = HubSpot.from_environment()
    except ConnectorSettingsError as error:  # names the variable, never its value
        print(error, file=sys.stderr)
        return 2
    try:
        for prop, outcome in (await hubspot.ensure_properties(phone=phone)).items():
            print(f"{prop}: {outcome}")
    except (PermanentError, RetryableError) as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1
    finally:
        await hubspot.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zaps.connectors.hubspot")
    commands = parser.add_subparsers(dest="command", required=True)
    ensure = commands.add_parser("ensure-properties", help="create the unique properties Zaps upserts on")
    ensure.add_argument("--phone", action="store_true", help="also zaps_phone on contacts (RingCentral hubspot_call)")
    arguments = parser.parse_args(argv)
    return asyncio.run(_ensure(arguments.phone))


if __name__ == "__main__":
    sys.exit(main())
