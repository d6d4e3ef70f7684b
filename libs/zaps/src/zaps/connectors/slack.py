"""Slack app: post messages with a bot token (chat.postMessage), to a channel or into a thread, once per event.

    from zaps.connectors.slack import SlackBot, post_message

    @service.automation(webhook(secret_setting="orders_secret"), uses=[SlackBot])
    async def orders(run: Run[Settings]) -> None:
        first = await post_message(run, "announce", channel="C0123456789", text="New order")
        await post_message(run, "details", channel=first["channel"], text="…", thread_ts=first["ts"])

Settings: SLACK_BOT_TOKEN (xoxb-…, a secret), SLACK_DEFAULT_CHANNEL (used when a step names none), SLACK_API_URL
(the fake's address in tests), SLACK_TIMEOUT_S. Scopes: chat:write to post; channels:history (groups:history for
private channels) for the check below; channels:read (groups:read) only when channels are given by name.

Unsure rule: `check`. Every post carries the step's idempotency key in its message metadata; when a try may or may
not have posted (a timeout after sending, a worker stopped before recording), the next try reads the channel (or the
thread) since the step started, with `include_all_metadata`, and posts again only if no message carries the key.
When it cannot read (a missing scope, a channel name it cannot resolve), the run is held for review instead.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

import httpx
from pydantic import Field, SecretStr, field_validator

from zaps.actions.http import NOT_SENT, USER_AGENT
from zaps.connectors.base import ConnectorSettings, connector, load_settings
from zaps.connectors.pacing import Pace
from zaps.connectors.slack_errors import check_answer
from zaps.engine.run import NeedsReview, OnUnsure, Run
from zaps.retry import PermanentError, RetryableError, UnsureError

METADATA_EVENT = "zaps_step"  # the metadata event_type our posts carry; its payload holds the idempotency key
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
# Slack's clock and the database's may differ: the check looks back this much before the step's start.
CLOCK_MARGIN = timedelta(minutes=5)
PAGE_SIZE = 200
MAX_PAGES = 20  # beyond 4,000 messages since the step started the check gives up and holds the run


class SlackBotSettings(ConnectorSettings):
    slack_bot_token: SecretStr
    slack_api_url: str = "https://slack.com/api"
    slack_default_channel: str | None = None
    slack_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        # A user token (xoxp-) or the signing secret pasted here would post as someone else or fail obscurely.
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("a Slack bot token starts with xoxb-")
        return value


class SlackBot:
    """The process's Slack Web API client: one connection pool, and one message per second per channel."""

    name: ClassVar[str] = "Slack app"
    settings_class: ClassVar[type[ConnectorSettings]] = SlackBotSettings

    def __init__(self, settings: SlackBotSettings, *, per_channel_s: float = 1.0) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(
            base_url=settings.slack_api_url.rstrip("/") + "/",
            timeout=settings.slack_timeout_s,
            headers={
                "user-agent": USER_AGENT,
                "authorization": f"Bearer {settings.slack_bot_token.get_secret_value()}",
            },
        )
        # Slack's chat.postMessage allows about one message per second per channel (short bursts tolerated).
        self.pace = Pace(per_channel_s)

    @classmethod
    def from_environment(cls) -> Self:
        return cls(load_settings(SlackBotSettings, cls.name))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(
        self,
        method: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """One Web API call (POST with a JSON body, or GET with a query): its answer, or the engine's error."""
        try:
            if json is not None:
                response = await self.client.post(
                    method, json=json, headers={"content-type": "application/json; charset=utf-8"}
                )
            else:
                response = await self.client.get(method, params=params)
        except NOT_SENT as error:  # no connection was made: nothing reached Slack
            raise RetryableError(f"Slack {method} unreachable: {type(error).__name__}") from None
        except httpx.TransportError as error:  # sent, then no answer: it may have happened
            raise UnsureError(
                f"Slack {method} did not answer after the request was sent: {type(error).__name__}"
            ) from None
        try:
            return check_answer(method, response, channel=channel)
        except RetryableError as error:
            if error.retry_after and channel and method == "chat.postMessage":  # the other methods' limits differ
                self.pace.hold_off(channel, error.retry_after)
            raise

    async def post_message(
        self,
        *,
        channel: str,
        text: str,
        idempotency_key: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "channel": channel,
            "text": text,  # with blocks, the notification's and screen readers' fallback
            "metadata": {"event_type": METADATA_EVENT, "event_payload": {"idempotency_key": idempotency_key}},
        }
        if blocks is not None:
            body["blocks"] = blocks
        if thread_ts is not None:
            body["thread_ts"] = thread_ts
        await self.pace.wait(channel)
        answer = await self.call("chat.postMessage", json=body, channel=channel)
        return posted(str(answer["channel"]), str(answer["ts"]), thread_ts)

    async def check(self) -> str:
        """One harmless read (auth.test) for a connections check: who the token posts as, or the engine's error
        naming what is wrong (a refused token, say). Nothing is posted."""
        answer = await self.call("auth.test", params={})
        return f"bot {answer.get('user') or '?'} in workspace {answer.get('team') or '?'}"

    async def channel_id(self, channel: str) -> str:
        """`channel` as an ID: reading a channel's history needs one, while posting also takes a name."""
        if CHANNEL_ID.match(channel):
            return channel
        name, cursor = channel.removeprefix("#"), ""
        for _ in range(MAX_PAGES):
            params = {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": PAGE_SIZE}
            answer = await self.call("conversations.list", params={**params, **({"cursor": cursor} if cursor else {})})
            for found in answer.get("channels", []):
                if found.get("name") == name:
                    return str(found["id"])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        raise PermanentError(f"Slack: no channel named {channel} is visible to the bot; give its ID (C…)")

    async def find_posted(
        self, *, channel: str, idempotency_key: str, since: datetime, thread_ts: str | None = None
    ) -> dict[str, Any] | None:
        """The post carrying `idempotency_key` made since `since`, as `post_message` returns it, or None.

        Raises PermanentError when the search could not be complete (so the caller cannot tell "absent")."""
        channel_id = await self.channel_id(channel)
        method = "conversations.replies" if thread_ts else "conversations.history"
        params: dict[str, Any] = {
            "channel": channel_id,
            "oldest": f"{(since - CLOCK_MARGIN).timestamp():.6f}",
            "inclusive": "true",
            "include_all_metadata": "true",
            "limit": PAGE_SIZE,
        }
        if thread_ts:
            params["ts"] = thread_ts
        cursor = ""
        for _ in range(MAX_PAGES):
            answer = await self.call(
                method, params={**params, **({"cursor": cursor} if cursor else {})}, channel=channel
            )
            for message in answer.get("messages", []):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == METADATA_EVENT and payload.get("idempotency_key") == idempotency_key:
                    return posted(channel_id, str(message["ts"]), thread_ts)
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return None
        raise PermanentError(f"Slack {method}: more than {MAX_PAGES * PAGE_SIZE} messages to search")


def posted(channel: str, ts: str, thread_ts: str | None) -> dict[str, Any]:
    """What a post step returns (and records): where the message is, so a later step can reply in its thread."""
    result: dict[str, Any] = {"channel": channel, "ts": ts}
    if thread_ts is not None:
        result["thread_ts"] = thread_ts
    return result


async def post_message(
    run: Run[Any],
    step: str,
    *,
    text: str,
    channel: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
    on_unsure: OnUnsure = "check",
) -> dict[str, Any]:
    """Post `text` (and Block Kit `blocks`, as given) to `channel` (SLACK_DEFAULT_CHANNEL if None), as a reply in
    the thread of `thread_ts` if given, once per event. Returns {"channel": ID, "ts": the message's ts, …}."""
    bot = connector(run.runtime, SlackBot)
    target = channel or bot.settings.slack_default_channel
    if not target:
        raise PermanentError(f"step {step!r}: no Slack channel given and SLACK_DEFAULT_CHANNEL is not set")

    async def send(key: str) -> dict[str, Any]:
        return await bot.post_message(
            channel=target, text=text, blocks=blocks, thread_ts=thread_ts, idempotency_key=key
        )

    async def verify(key: str) -> dict[str, Any] | None:
        since = await run.step_started_at(step)
        try:
            return await bot.find_posted(channel=target, idempotency_key=key, since=since, thread_ts=thread_ts)
        except PermanentError as error:
            # The check could not be made: a person decides rather than risk a double post (or none at all).
            raise NeedsReview(step, f"the check could not read Slack: {error}") from None

    recorded = {"channel": target, "text": text, "thread_ts": thread_ts, "blocks": blocks}
    return await run.step(step, send, input=recorded, on_unsure=on_unsure, verify=verify)
