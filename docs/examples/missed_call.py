"""Every missed call: a row in a Google Sheet, the call logged in HubSpot on the caller's contact, a card in Teams.

To use it, copy this file to services/ringcentral-service/src/ringcentral_service/missed_call.py and add
"ringcentral_service.missed_call" to `automations=[...]` in that package's service.py. It needs
GOOGLE_SERVICE_ACCOUNT_JSON (the sheet shared with that account), HUBSPOT_TOKEN (and, once, `python -m
zaps.connectors.hubspot ensure-properties --phone`) and TEAMS_WORKFLOW_URL; the service does not start without them.
"""

from zaps import Run
from zaps.connectors import hubspot
from zaps.connectors.hubspot import HubSpot
from zaps.connectors.sheets import GoogleSheets, upsert_row
from zaps.connectors.teams import Teams, post_card

from ringcentral_service.service import service
from ringcentral_service.settings import Settings

CALLS_SHEET = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"  # the sheet's URL: docs.google.com/spreadsheets/d/<this>/edit


@service.automation(service.pollers["calls"].on("call.missed"), uses=[GoogleSheets, HubSpot, Teams])
async def missed_call(run: Run[Settings]) -> None:
    call = run.event.payload  # id, start_time, direction, result, from and to ({number, name, extension})
    caller = call["from"]["number"]
    if not caller:
        run.filter("the caller's number is withheld")
    name = call["from"]["name"] or ""
    # One row per call, found by its id: a retry or a replay updates that row, never adds another.
    await upsert_row(
        run,
        "sheet",
        spreadsheet_id=CALLS_SHEET,
        sheet="Missed calls",
        key_column="Call id",
        row={"Call id": call["id"], "From": caller, "Name": name, "When": call["start_time"]},
        value_input="RAW",  # keep the + of the number and the time as written
    )
    # A call brings a number, not an email: the contact is found (or made) by it, on the unique zaps_phone.
    logged = await hubspot.log_call(
        run,
        "hubspot",
        contact_key=("zaps_phone", caller),
        contact_properties={"phone": caller},
        direction="INBOUND",
        status="NO_ANSWER",
        from_number=caller,
        to_number=call["to"]["number"],
        timestamp=call["start_time"],
        body=f"Missed call from {caller} {name}".strip(),
    )
    await post_card(
        run,
        "teams",
        title="Missed call",
        text=f"**{name or caller}** called and nobody answered. Call back!",
        facts={"From": caller, "When": call["start_time"], "HubSpot call": logged["call_id"]},
    )
