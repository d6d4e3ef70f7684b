"""The no-code automations: each rule of the automations file becomes one engine automation.

A rule's run: the filters (a stop is recorded as `filtered`, with the reason), then its one action as a ledger
step, so a retry or a replay never sends twice. In shadow mode (RINGCENTRAL_SHADOW_MODE) the step records what it
would have sent instead, under another step name, so a later replay with shadow mode off sends for real.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from zaps import PermanentError, Retry, Run
from zaps.connectors import Connector
from zaps.connectors.hubspot import HubSpot
from zaps.connectors.sheets import GoogleSheets, upsert_row
from zaps.connectors.slack import SlackBot, post_message
from zaps.connectors.teams import Teams, post_card
from zaps.engine.trials import would_send
from zaps.engine.triggers import setting_value
from zaps.service import Service

from ringcentral_service import hubspot_calls, repository
from ringcentral_service.errors import RingCentralError
from ringcentral_service.events import CALL_KINDS, parse_time
from ringcentral_service.pollers import CALLS, MESSAGES, client_for
from ringcentral_service.rules import Rule, RulesFile, SheetsRow, number_matches
from ringcentral_service.settings import Settings
from ringcentral_service.sms import as_run_error, send_sms

TRANSCRIPTION_CHARS = 4000


def _when(payload: dict[str, Any]) -> datetime | None:
    return parse_time(payload.get("start_time") or payload.get("created"))


def other_party(payload: dict[str, Any]) -> dict[str, Any]:
    """The customer's side: who called or wrote in, or whom the company called or wrote to."""
    if payload.get("direction") == "Outbound":
        to = payload.get("to")
        party = to[0] if isinstance(to, list) and to else to
        return party if isinstance(party, dict) else {}
    party = payload.get("from")
    return party if isinstance(party, dict) else {}


def _company_extension(payload: dict[str, Any]) -> str | None:
    side = payload.get("from") if payload.get("direction") == "Outbound" else payload.get("to")
    if isinstance(side, list):
        side = side[0] if side else None
    return side.get("extension") if isinstance(side, dict) else None


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "unknown"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def fields(payload: dict[str, Any], rules: RulesFile, *, kind: str | None, transcription: str = "") -> dict[str, str]:
    """The values a rule's text templates may name (see rules.PLACEHOLDERS)."""
    when = _when(payload)
    caller: dict[str, Any] = payload["from"] if isinstance(payload.get("from"), dict) else {}
    to = payload.get("to")
    callee: dict[str, Any] = (to[0] if to else {}) if isinstance(to, list) else (to or {})
    duration = payload.get("duration_s", payload.get("voicemail_duration_s"))
    return {
        "kind": kind or "",
        "caller": str(caller.get("number") or "unknown number"),
        "caller_name": str(caller.get("name") or ""),
        "callee": str(callee.get("number") or ""),
        "callee_name": str(callee.get("name") or ""),
        "extension": str(_company_extension(payload) or ""),
        "time": when.astimezone(rules.zone).strftime("%Y-%m-%d %H:%M %Z") if when else "unknown time",
        "duration": _duration(duration),
        "result": str(payload.get("result") or ""),
        "direction": str(payload.get("direction") or ""),
        "text": str(payload.get("subject") or ""),
        "transcription": transcription,
    }


def refusal(rule: Rule, rules: RulesFile, payload: dict[str, Any]) -> str | None:
    """Why this rule's filters stop the event, or None to go on."""
    criteria = rule.filter
    direction = payload.get("direction")
    if criteria.direction and direction != criteria.direction:
        return f"direction is {direction}, the rule wants {criteria.direction}"
    if criteria.extensions is not None:
        extension = _company_extension(payload)
        if extension not in criteria.extensions:
            return f"extension {extension or 'none'} is not one of {criteria.extensions}"
    if criteria.numbers is not None:
        number = other_party(payload).get("number")
        if not number_matches(number, criteria.numbers):
            return f"number {number or 'withheld'} matches none of {criteria.numbers}"
    if criteria.hours != "any" and rules.business_hours is not None:
        when = (_when(payload) or datetime.now(UTC)).astimezone(rules.zone)
        inside = rules.business_hours.contains(when)
        if criteria.hours == "business" and not inside:
            return f"{when:%a %H:%M} is outside business hours"
        if criteria.hours == "after-hours" and inside:
            return f"{when:%a %H:%M} is within business hours"
    return None


async def transcription_text(run: Run[Settings]) -> str:
    """The voicemail's transcript, fetched once (a ledger step) from the media host."""
    payload = run.event.payload
    uri = payload.get("transcription_uri")
    if not uri:
        status = payload.get("transcription_status") or "none"
        return "(no transcription: timed out)" if payload.get("transcription_timed_out") else f"({status})"

    async def fetch(key: str) -> dict[str, Any]:
        try:
            media = await client_for(run.runtime).get_media(str(uri))
        except RingCentralError as error:
            raise as_run_error(error) from None
        return {"text": media.content.decode("utf-8", "replace")[:TRANSCRIPTION_CHARS]}

    fetched = await run.step("fetch-transcription", fetch, input={"uri": uri})
    return str(fetched["text"])


async def _recent_reply(run: Run[Settings], step: str, number: str, hours: float) -> datetime | None:
    """When this rule last texted `number` (or, in shadow mode, would have) for another event within `hours`."""
    async with run.runtime.database.connection() as conn:
        return await repository.last_text_to(
            conn, automation=run.automation, step=step, number=number, other_than_event=run.event.id, hours=hours
        )


async def _sms_reply(run: Run[Settings], rule: Rule, rules: RulesFile, settings: Settings, text: str) -> None:
    reply = rule.sms_reply
    assert reply is not None
    number = (run.event.payload.get("from") or {}).get("number")
    if not number:
        run.filter("the caller's number is withheld")
    now = datetime.now(UTC)
    if reply.quiet_hours is not None and reply.quiet_hours.contains(now.astimezone(rules.zone)):
        run.filter(f"quiet hours ({reply.quiet_hours.start}-{reply.quiet_hours.end})")
    when = _when(run.event.payload)
    if when is not None and now - when > timedelta(minutes=reply.max_age_minutes):
        run.filter(f"the call is older than {reply.max_age_minutes:g} minutes")
    if settings.ringcentral_sms_from is None:
        raise PermanentError("RINGCENTRAL_SMS_FROM is not set: the number SMS replies are sent from")
    shadow = settings.ringcentral_shadow_mode
    step = "shadow-sms-reply" if shadow else "sms-reply"
    # One reply per number at a time: two missed calls in a row must not both pass the check below. Shadow mode
    # checks too (against its own would-be replies), so the week beside the Zap counts the texts it would send.
    async with run.runtime.database.transaction() as conn:
        await repository.lock_until_commit(conn, f"{run.automation}/{number}")
        if reply.once_per_number_hours > 0:
            earlier = await _recent_reply(run, step, number, reply.once_per_number_hours)
            if earlier is not None:
                run.filter(f"{number} was already texted at {earlier:%Y-%m-%d %H:%M} UTC")
        if shadow:
            await _shadow(run, "sms_reply", {"to": number, "text": text})
        else:
            await send_sms(run, step=step, from_number=settings.ringcentral_sms_from, to=number, text=text)


async def _shadow(run: Run[Settings], action: str, would: dict[str, Any]) -> None:
    """Shadow mode's step: a ledger step of its own name whose output is what would have been sent, in the shape a
    `zaps run --dry-run` step records too (`zaps.engine.trials.would_send`). Unlike a dry run it is `succeeded` and
    in the ledger: the once-per-number rule counts the replies shadow mode would have sent."""

    async def record(key: str) -> dict[str, Any]:
        return would_send(action, would)

    await run.step(f"shadow-{action.replace('_', '-')}", record, input=would)


async def _sheets_row(run: Run[Settings], target: SheetsRow, values: dict[str, str], *, shadow: bool) -> None:
    # Keyed by the call's (or message's) id: a call.missed and a call.completed rule on one sheet share its row.
    key = str(run.event.payload.get("id") or run.event.key)
    row = {target.key_column: key, **{name: text.format_map(values) for name, text in target.columns.items()}}
    if shadow:
        would = {"spreadsheet_id": target.spreadsheet_id, "sheet": target.sheet, "row": row}
        await _shadow(run, "sheets_row", would)
        return
    await upsert_row(
        run,
        "sheets-row",
        spreadsheet_id=target.spreadsheet_id,
        sheet=target.sheet,
        key_column=target.key_column,
        row=row,
    )


def handler_for(rule: Rule, rules: RulesFile) -> Callable[[Run[Settings]], Awaitable[None]]:
    async def handle(run: Run[Settings]) -> None:
        settings = run.settings
        payload = run.event.payload
        reason = refusal(rule, rules, payload)
        if reason:
            run.filter(reason)
        needs_transcript = any("{transcription}" in template for _, template in rule.templates())
        transcript = await transcription_text(run) if needs_transcript else ""
        values = fields(payload, rules, kind=run.event.kind, transcription=transcript)
        shadow = settings.ringcentral_shadow_mode
        if rule.slack is not None:
            text = rule.slack.text.format_map(values)
            url = setting_value(settings, rule.slack.webhook_url_setting) if rule.slack.webhook_url_setting else None
            channel = rule.slack.channel
            if shadow:
                await _shadow(run, "slack", {"text": text, **({"channel": channel} if channel else {})})
            elif channel:
                await post_message(run, "slack", channel=channel, text=text)
            else:
                await run.slack("slack", text=text, webhook_url=url)
        elif rule.email is not None:
            subject, body = rule.email.subject.format_map(values), rule.email.body.format_map(values)
            if shadow:
                await _shadow(run, "email", {"to": rule.email.to, "subject": subject, "body": body})
            else:
                await run.email("email", to=rule.email.to, subject=subject, body=body)
        elif rule.webhook is not None:
            url = rule.webhook.url or str(setting_value(settings, rule.webhook.url_setting))
            event = {key: value for key, value in payload.items() if key != "record"}
            document = {"kind": run.event.kind, "event_id": run.event.id, **event}
            if shadow:
                await _shadow(run, "webhook", {"url": url, "payload": document})
            else:
                await run.webhook("webhook", url=url, payload=document)
        elif rule.sms_reply is not None:
            await _sms_reply(run, rule, rules, settings, rule.sms_reply.text.format_map(values))
        elif rule.sheets_row is not None:
            await _sheets_row(run, rule.sheets_row, values, shadow=shadow)
        elif rule.hubspot_call is not None:
            body = rule.hubspot_call.body.format_map(values)
            await hubspot_calls.log_call(run, rule.hubspot_call, body, shadow=shadow)
        elif rule.teams is not None:
            title, text = rule.teams.title.format_map(values), rule.teams.text.format_map(values)
            facts = {name: template.format_map(values) for name, template in rule.teams.facts.items()}
            if shadow:
                await _shadow(run, "teams", {"title": title, "text": text, "facts": facts})
            else:
                await post_card(run, "teams", title=title, text=text or None, facts=facts)

    handle.__name__ = rule.name.replace("-", "_")
    return handle


def connectors_of(rule: Rule) -> list[type[Connector]]:
    """The connectors a rule's action calls: their credentials are then checked at start, and a missing one named."""
    used: list[type[Connector]] = []
    if rule.slack and rule.slack.channel:  # a Slack app's bot, not an incoming webhook
        used.append(SlackBot)
    if rule.sheets_row:
        used.append(GoogleSheets)
    if rule.hubspot_call:
        used.append(HubSpot)
    if rule.teams:
        used.append(Teams)
    return used


def install(service: Service[Settings], rules: RulesFile) -> list[str]:
    """Declare one automation per rule, on the poller its event kind comes from; returns their names."""
    names = []
    for rule in rules.automation:
        poller = service.pollers[CALLS if rule.on in CALL_KINDS else MESSAGES]
        uses = connectors_of(rule)
        retry = Retry().up_to(rule.max_attempts) if rule.max_attempts else None
        service.automation(poller.on(rule.on), name=rule.name, retry=retry, uses=uses)(handler_for(rule, rules))
        names.append(f"{service.name}.{rule.name}")
    return names
