"""The `hubspot_call` action: a call from the log becomes a HubSpot call on the other party's contact.

The contact is upserted by the other party's phone number, not by email: a call brings a number and nothing else.
HubSpot's own `phone` property cannot be made unique (only a new property can), so the number goes to a unique
property of its own (`zaps_phone` unless the rule names another, created once with `python -m
zaps.connectors.hubspot ensure-properties --phone`), and to `phone` for people to read. The price: a contact made
by hand before, whose `zaps_phone` is empty, is not matched; the first call makes a second contact to merge.
"""

from __future__ import annotations

from typing import Any

from zaps import Run
from zaps.connectors import hubspot
from zaps.engine.trials import would_send

from ringcentral_service.events import CALL_MISSED, MISSED_RESULTS, parse_time
from ringcentral_service.rules import HubspotCall
from ringcentral_service.settings import Settings

DIRECTIONS = {"Inbound": "INBOUND", "Outbound": "OUTBOUND"}
FAILED_RESULTS = frozenset({"Call Failed", "Call failed", "Failed", "Stopped", "Internal Error", "Restricted"})


def call_status(kind: str | None, result: str | None) -> str:
    """RingCentral's call result as one of HubSpot's documented hs_call_status values."""
    if result == "Busy":
        return "BUSY"
    if kind == CALL_MISSED or result in MISSED_RESULTS or result == "No Answer":
        return "NO_ANSWER"
    if result in FAILED_RESULTS:
        return "FAILED"
    return "COMPLETED"


def call_fields(payload: dict[str, Any], kind: str | None, rule: HubspotCall, body: str) -> dict[str, Any]:
    """`hubspot.log_call`'s arguments for this call, or {} when the other party's number is unknown."""
    inbound = payload.get("direction") != "Outbound"
    other = payload.get("from") if inbound else payload.get("to")
    number = other.get("number") if isinstance(other, dict) else None
    if not number:
        return {}
    caller, callee = (side if isinstance(side, dict) else {} for side in (payload.get("from"), payload.get("to")))
    duration = payload.get("duration_s")
    started = parse_time(payload.get("start_time"))
    return {
        "direction": DIRECTIONS.get(str(payload.get("direction")), "INBOUND"),
        "status": call_status(kind, payload.get("result")),
        "contact_key": (rule.contact_property, str(number)),
        "contact_properties": {"phone": str(number)},
        "duration_ms": int(duration * 1000) if isinstance(duration, int | float) else None,
        "body": body,
        "from_number": caller.get("number"),
        "to_number": callee.get("number"),
        "timestamp": started,  # None: when the event arrived
    }


async def log_call(run: Run[Settings], rule: HubspotCall, body: str, *, shadow: bool) -> None:
    fields = call_fields(run.event.payload, run.event.kind, rule, body)
    if not fields:
        run.filter("the other party's number is withheld: no contact to log the call on")
    if shadow:  # what the automations' `_shadow` records, named as it names it

        async def record(key: str) -> dict[str, Any]:
            return would_send("hubspot_call", fields)

        await run.step("shadow-hubspot-call", record, input=fields)
        return
    await hubspot.log_call(run, "hubspot-call", **fields)
