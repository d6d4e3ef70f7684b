"""One harmless read per configured connector (Google Sheets, HubSpot, the Slack app) and a shape check for the
Teams workflow URL. Nothing is written or posted anywhere.

A connector is "configured" when its settings are in the environment (or `.env`): one whose required variables are
all unset is "not configured", which is fine unless an automation uses it (zaps.connections.report decides that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from zaps.connections.outcome import Outcome, Status, failure_reason
from zaps.connections.shapes import SHAPE_ONLY, teams_workflow_problem
from zaps.connectors.base import Connector, ConnectorSettings, ConnectorSettingsError, load_settings
from zaps.connectors.hubspot import HubSpot, HubSpotSettings
from zaps.connectors.sheets import GoogleSheets, GoogleSheetsSettings
from zaps.connectors.slack import SlackBot, SlackBotSettings
from zaps.connectors.teams import Teams, TeamsSettings
from zaps.retry import PermanentError, RetryableError, UnsureError

S = TypeVar("S", bound=ConnectorSettings)
KNOWN: tuple[type[Connector], ...] = (GoogleSheets, HubSpot, SlackBot, Teams)


@dataclass(frozen=True)
class Options:
    timeout_s: float = 10.0  # each check's time limit, and every client's own timeout in it
    spreadsheet_ids: tuple[str, ...] = ()  # instead of GOOGLE_SHEETS_CHECK_SPREADSHEET_ID
    slack_channel: str | None = None  # instead of SLACK_DEFAULT_CHANNEL


def required_variables(settings_class: type[ConnectorSettings]) -> list[str]:
    return [name.upper() for name, info in settings_class.model_fields.items() if info.is_required()]


def loaded(settings_class: type[S], name: str) -> S | Outcome:
    """The connector's settings, or its outcome: "not configured" when every required variable is unset, failed
    (naming the variables, never their values) when some are set and something is wrong."""
    try:
        return load_settings(settings_class, name)
    except ConnectorSettingsError as error:
        try:
            settings_class()
        except ValidationError as details:
            kinds = {item["type"] for item in details.errors()}
            names = {".".join(str(p) for p in item["loc"]).upper() for item in details.errors()}
            if kinds == {"missing"} and names == set(required_variables(settings_class)):
                return Outcome(name, Status.NOT_CONFIGURED, f"{', '.join(sorted(names))} not set")
        return Outcome(name, Status.FAILED, str(error))


async def within(name: str, limit_s: float, check: Callable[[], Awaitable[str]]) -> Outcome:
    """`check()`'s OK detail, or its failure as a reason; a check still running after the limit is a timeout."""
    try:
        # A little over the limit: the client's own timeout (set to the limit) should speak first, with its words.
        detail = await asyncio.wait_for(check(), limit_s + 1)
    except (TimeoutError, PermanentError, RetryableError, UnsureError) as error:
        return Outcome(name, Status.FAILED, failure_reason(error, limit_s))
    except Exception as error:  # a surprise in one check (a malformed API URL, say) must not hide the others
        return Outcome(name, Status.FAILED, f"the check failed: {type(error).__name__}: {str(error)[:300]}")
    return Outcome(name, Status.OK, detail)


async def check_google_sheets(options: Options) -> Outcome:
    settings = loaded(GoogleSheetsSettings, GoogleSheets.name)
    if isinstance(settings, Outcome):
        return settings
    sheets = GoogleSheets(settings.model_copy(update={"google_sheets_timeout_s": options.timeout_s}))
    given = options.spreadsheet_ids or tuple(filter(None, [settings.google_sheets_check_spreadsheet_id]))

    async def check() -> str:
        await sheets.token.get()  # Google signs a token only for a key it knows and has not disabled
        said = [f"Google gave a token for the key of {sheets.token.client_email}"]
        for spreadsheet_id in given:
            found = await sheets.api.metadata(spreadsheet_id)
            title = str((found.get("properties") or {}).get("title") or "")
            tabs = [str((s.get("properties") or {}).get("title")) for s in found.get("sheets") or []]
            said.append(
                f"spreadsheet {spreadsheet_id} ({title!r}, tabs: {', '.join(tabs) or 'none'}) is readable by it "
                "(a read proves it is shared with the account, not that it may write: share it as an Editor)"
            )
        if not given:
            said.append("no spreadsheet checked: set GOOGLE_SHEETS_CHECK_SPREADSHEET_ID or give --spreadsheet ID")
        return "; ".join(said)

    try:
        return await within(GoogleSheets.name, options.timeout_s, check)
    finally:
        await sheets.aclose()


async def check_hubspot(options: Options) -> Outcome:
    settings = loaded(HubSpotSettings, HubSpot.name)
    if isinstance(settings, Outcome):
        return settings
    hubspot = HubSpot(
        token=settings.hubspot_token.get_secret_value(), api_url=settings.hubspot_api_url, timeout_s=options.timeout_s
    )

    async def check() -> str:
        await hubspot.check()
        return "the token reads contacts (crm.objects.contacts.read); write scopes are not tried: that would write"

    try:
        return await within(HubSpot.name, options.timeout_s, check)
    finally:
        await hubspot.aclose()


async def check_slack_app(options: Options) -> Outcome:
    settings = loaded(SlackBotSettings, SlackBot.name)
    if isinstance(settings, Outcome):
        return settings
    bot = SlackBot(settings.model_copy(update={"slack_timeout_s": options.timeout_s}))
    channel = options.slack_channel or settings.slack_default_channel

    async def check() -> str:
        said = [f"the token is valid: {await bot.check()}"]  # auth.test
        if channel:
            # The read a post's unsure-check makes: it needs channels:history (groups:history if private) and the
            # bot in the channel. chat:write itself cannot be seen without posting.
            channel_id = await bot.channel_id(channel)
            await bot.call("conversations.history", params={"channel": channel_id, "limit": 1}, channel=channel)
            said.append(f"channel {channel} is readable by the bot; chat:write cannot be checked without posting")
        else:
            said.append("no channel checked: set SLACK_DEFAULT_CHANNEL or give --slack-channel")
        return "; ".join(said)

    try:
        return await within(SlackBot.name, options.timeout_s, check)
    finally:
        await bot.aclose()


async def check_teams(options: Options) -> Outcome:
    settings = loaded(TeamsSettings, Teams.name)
    if isinstance(settings, Outcome):
        return settings
    problem = teams_workflow_problem(settings.teams_workflow_url.get_secret_value())
    if problem:
        return Outcome(Teams.name, Status.FAILED, f"TEAMS_WORKFLOW_URL {problem}")
    return Outcome(Teams.name, Status.SHAPE_OK, f"TEAMS_WORKFLOW_URL: {SHAPE_ONLY}")


async def check_other(connector: type[Connector], options: Options) -> Outcome:
    """A connector of the service's own (not one of Zaps'): its settings are loaded, nothing more is known."""
    settings: Any = loaded(connector.settings_class, connector.name)
    if isinstance(settings, Outcome):
        return settings
    return Outcome(connector.name, Status.OK, "settings load; Zaps has no check for this connector")


CHECKS: dict[str, Callable[[Options], Awaitable[Outcome]]] = {
    GoogleSheets.name: check_google_sheets,
    HubSpot.name: check_hubspot,
    SlackBot.name: check_slack_app,
    Teams.name: check_teams,
}
