"""Microsoft Teams: post to a channel through a Teams Workflows webhook (the Office 365 connectors are retired).

In Teams, the channel's "Workflows" menu makes a flow from the template "Post to a channel when a webhook request is
received"; its trigger shows an HTTP POST URL. That URL carries a signature (`sig=`), so whoever holds it can post:
it is a secret, TEAMS_WORKFLOW_URL. The flow takes a message whose attachments are Adaptive Cards,

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                         "content": {"type": "AdaptiveCard", "version": "1.2", "body": [...]}}]}

and answers 202 Accepted at once (it posts afterwards, in the flow's own run). A wrong or revoked signature is a 401
(`DirectApiInvalidAuthorizationSignature`), a deleted flow 404 (`WorkflowNotFound`), a flow turned off 400
(`WorkflowTriggerIsNotEnabled`): each is dead at once, with what to do. 5xx and 429 are retried.

    @service.automation(webhook(secret_setting="orders_secret"), uses=[Teams])
    async def orders(run: Run[Settings]) -> None:
        await post_card(run, "tell-sales", title="New order", text="Paid by card", facts={"Total": "120 EUR"})

Unsure (a timeout after the flow took the request): `resend`. The Workflows trigger has no idempotency key, so a
resend may post the notice twice; a doubled channel notice is harmless, a run held for one is not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator

from zaps.actions.http import NOT_SENT, USER_AGENT, raise_for_answer
from zaps.connectors.base import ConnectorSettings, connector, load_settings
from zaps.engine.run import OnUnsure, Run, Verify
from zaps.retry import PermanentError, RetryableError, UnsureError
from zaps.settings import SettingsT

TEAMS_ON_UNSURE: OnUnsure = "resend"  # a doubled channel notice is harmless; a run held for one is not
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.2"  # what Teams renders on every client, mobile included
WHAT = "Microsoft Teams workflow"

# The flow's error codes (Logic Apps' `{"error": {"code", "message"}}`), told as what the owner should do.
ADVICE = {
    "DirectApiInvalidAuthorizationSignature": "the URL's signature is not valid (revoked, or not copied whole): "
    "copy the HTTP POST URL again from the workflow's trigger",
    "DirectApiAuthorizationRequired": "the URL has no signature: copy the whole HTTP POST URL from the trigger",
    "WorkflowNotFound": "the workflow no longer exists: make it again in the channel's Workflows menu",
    "WorkflowTriggerIsNotEnabled": "the workflow is turned off (or deleted): turn it on in Teams' Workflows app",
    "TriggerInputSchemaMismatch": "the workflow refused the message's shape",
}


class TeamsSettings(ConnectorSettings):
    teams_workflow_url: SecretStr  # the trigger's HTTP POST URL; its `sig=` lets anyone holding it post
    teams_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("teams_workflow_url")
    @classmethod
    def _is_a_web_address(cls, value: SecretStr) -> SecretStr:
        # The message names the variable, never its value (zaps.connectors.base.load_settings).
        if urlsplit(value.get_secret_value()).scheme not in ("https", "http"):
            raise ValueError("must be the workflow's https:// URL")
        return value


def card(
    *, title: str | None = None, text: str | None = None, facts: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An Adaptive Card: a bold title, a paragraph of text (Teams renders its Markdown), and a table of facts."""
    body: list[dict[str, Any]] = []
    if title:
        body.append({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True})
    if text:
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": str(k), "value": str(v)} for k, v in facts.items()]})
    if not body:
        raise ValueError("a Teams card needs a title, a text or facts")
    return {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}


def message(content: Mapping[str, Any]) -> dict[str, Any]:
    """The message the Workflows trigger takes: one Adaptive Card attachment."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


class Teams:
    """The client: posts a card to the workflow URL (TEAMS_WORKFLOW_URL, or one given per call)."""

    name: ClassVar[str] = "Microsoft Teams"
    settings_class: ClassVar[type[ConnectorSettings]] = TeamsSettings

    def __init__(self, *, workflow_url: str, timeout_s: float = 10.0) -> None:
        self._workflow_url = workflow_url
        self.client = httpx.AsyncClient(timeout=timeout_s, headers={"user-agent": USER_AGENT})

    @classmethod
    def from_environment(cls) -> Self:
        settings = load_settings(TeamsSettings, cls.name)
        return cls(workflow_url=settings.teams_workflow_url.get_secret_value(), timeout_s=settings.teams_timeout_s)

    async def post(self, content: Mapping[str, Any], *, workflow_url: str | None = None) -> dict[str, Any]:
        """Post one Adaptive Card (`card(...)`, or any card's JSON). The URL never appears in an error."""
        try:
            response = await self.client.post(workflow_url or self._workflow_url, json=message(content))
        except NOT_SENT as error:
            raise RetryableError(f"{WHAT} unreachable: {type(error).__name__}") from None
        except httpx.TransportError as error:
            raise UnsureError(f"{WHAT} did not answer after the card was sent: {type(error).__name__}") from None
        refuse(response)
        return {"status": response.status_code}

    async def aclose(self) -> None:
        await self.client.aclose()


def refuse(response: httpx.Response) -> None:
    """5xx and 429 retry; any other 4xx is dead, with the flow's error code and what to do about it."""
    status = response.status_code
    if status < 400 or status == 429 or status >= 500:
        raise_for_answer(response, WHAT)
        return
    code = ""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        code = str(response.json()["error"]["code"])
    advice = ADVICE.get(code, "check TEAMS_WORKFLOW_URL and the workflow in Teams")
    # Only the code is quoted: the flow's message may echo the request, and the status says the rest.
    raise PermanentError(f"{WHAT} answered {status}{f' ({code})' if code else ''}: {advice}")


async def post_card(
    run: Run[SettingsT],
    step: str,
    *,
    title: str | None = None,
    text: str | None = None,
    facts: Mapping[str, Any] | None = None,
    webhook_url: str | SecretStr | None = None,
    on_unsure: OnUnsure = TEAMS_ON_UNSURE,
    verify: Verify | None = None,
) -> dict[str, Any]:
    """Post a card (title, text, facts) to the channel, once per event. `webhook_url`: another workflow's URL."""
    content = card(title=title, text=text, facts=facts)
    recorded: dict[str, Any] = {"title": title, "text": text, "facts": dict(facts or {})}
    return await _post(run, step, content, recorded, webhook_url, on_unsure, verify)


async def post_text(
    run: Run[SettingsT],
    step: str,
    text: str,
    *,
    webhook_url: str | SecretStr | None = None,
    on_unsure: OnUnsure = TEAMS_ON_UNSURE,
    verify: Verify | None = None,
) -> dict[str, Any]:
    """Post a line of text (as a one-block card: the Workflows trigger takes cards only), once per event."""
    return await _post(run, step, card(text=text), {"text": text}, webhook_url, on_unsure, verify)


async def _post(
    run: Run[SettingsT],
    step: str,
    content: dict[str, Any],
    recorded: dict[str, Any],
    webhook_url: str | SecretStr | None,
    on_unsure: OnUnsure,
    verify: Verify | None,
) -> dict[str, Any]:
    teams = connector(run.runtime, Teams)
    url = webhook_url.get_secret_value() if isinstance(webhook_url, SecretStr) else webhook_url
    if url is not None:
        recorded["workflow"] = "given"  # never the URL itself: it is the credential

    async def send(key: str) -> dict[str, Any]:
        return await teams.post(content, workflow_url=url)

    return await run.step(step, send, input=recorded, on_unsure=on_unsure, verify=verify)
