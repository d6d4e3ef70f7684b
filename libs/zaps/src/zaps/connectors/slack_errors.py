"""Slack Web API answers turned into the engine's failure types.

Slack answers most failures with HTTP 200 and `{"ok": false, "error": "<code>"}`
(https://docs.slack.dev/reference/methods/chat.postMessage#errors); rate limits come as HTTP 429 with a
`Retry-After` header (seconds) and `"error": "ratelimited"`. Each message names what to fix and never carries the
token: Slack's answers do not echo it, and we build every message from the error code and our own words.
"""

from __future__ import annotations

from typing import Any

import httpx

from zaps.retry import PermanentError, RetryableError, UnsureError, parse_retry_after

# The token itself is refused: nothing will work until the owner gives a new one.
CREDENTIAL_ERRORS = {
    "invalid_auth": "is not valid for this workspace (or a network is refused by its IP allow-list)",
    "not_authed": "was not sent",
    "account_inactive": "belongs to a deleted user or workspace",
    "token_revoked": "was revoked, or the app was removed from the workspace",
    "token_expired": "has expired (token rotation is on: turn it off for a bot token, or give a fresh one)",
    "no_permission": "lacks the permission this call needs",
}
INVITE_HINT = "invite the bot to the channel (in Slack: /invite @your-app, or the channel's Integrations tab)"
CHANNEL_ERRORS = {
    "channel_not_found": f"was not found: check the channel ID (C…); for a private channel, {INVITE_HINT}",
    "not_in_channel": f"does not have the bot as a member: {INVITE_HINT}",
    "is_archived": "is archived",
}
# Slack says of these that "some aspect of the operation" may have succeeded before the error: a post may be there.
MAYBE_DONE_ERRORS = {"fatal_error", "internal_error"}
RATE_LIMITED = {"ratelimited", "rate_limited"}


def failure(
    method: str, answer: dict[str, Any], *, channel: str | None = None, retry_after: float | None = None
) -> Exception:
    """The engine error for a Slack answer with `"ok": false`."""
    code = str(answer.get("error") or "unknown_error")
    where = f"Slack {method}"
    if code in CREDENTIAL_ERRORS:
        return PermanentError(f"{where}: the bot token (SLACK_BOT_TOKEN) {CREDENTIAL_ERRORS[code]} [{code}]")
    if code in CHANNEL_ERRORS:
        return PermanentError(f"{where}: channel {channel or '?'} {CHANNEL_ERRORS[code]} [{code}]")
    if code == "missing_scope":
        needed = str(answer.get("needed") or "?")
        return PermanentError(
            f"{where}: the app lacks the {needed} scope: add it under OAuth & Permissions, reinstall the app to the "
            f"workspace and set the new bot token [missing_scope]"
        )
    if code in RATE_LIMITED:
        return RetryableError(f"{where}: rate limited by Slack [{code}]", retry_after=retry_after)
    if code in MAYBE_DONE_ERRORS:
        return UnsureError(f"{where}: Slack failed and says part of it may have happened [{code}]")
    return PermanentError(f"{where}: Slack refused the call [{code}]")


def check_answer(method: str, response: httpx.Response, *, channel: str | None = None) -> dict[str, Any]:
    """The answer's JSON when `ok` is true; otherwise the matching engine error is raised."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if response.status_code == 429:
        raise RetryableError(f"Slack {method}: rate limited by Slack [HTTP 429]", retry_after=retry_after)
    if response.status_code >= 500:
        raise RetryableError(f"Slack {method} answered {response.status_code}", retry_after=retry_after)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise PermanentError(f"Slack {method} answered {response.status_code} without a JSON object")
    if answer.get("ok") is True:
        return answer
    raise failure(method, answer, channel=channel, retry_after=retry_after)
