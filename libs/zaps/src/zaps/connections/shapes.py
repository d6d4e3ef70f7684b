"""Shape checks for write-only URLs: a Teams Workflows trigger, a Slack incoming webhook, an outbound webhook.

These URLs only take posts, so nothing can be read from them: the one way to prove one works is to post, which
would put a message in a channel. The command checks what can be seen without posting, and says so. Each function
returns None for a good shape or the reason it is wrong, worded from the URL's parts and never quoting the URL
(it is the credential: whoever holds it can post).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

SHAPE_ONLY = "shape only: a write-only URL cannot be checked without posting"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# The trigger's path, on the Power Platform host Teams shows today (.../powerautomate/automations/direct/workflows/
# <id>/triggers/manual/paths/invoke) or on the older Logic Apps host (.../workflows/<id>/triggers/manual/...).
WORKFLOW_PATH = re.compile(r"/workflows/[0-9A-Za-z-]+/triggers/[^/]+/paths/invoke/?$")
# https://hooks.slack.com/services/T…/B…/<secret>: workspace, webhook id, then the secret part.
SLACK_HOOK_PATH = re.compile(r"^/services/T[0-9A-Z]+/B[0-9A-Z]+/[0-9A-Za-z]+/?$")
SLACK_HOOK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})


def _web_address(url: str) -> tuple[str | None, bool]:
    """(reason the URL is not a web address, or None; whether it is a local test address)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "is not a URL", False
    if parts.scheme not in ("https", "http") or not host:
        return "is not an https:// URL", False
    local = host in LOOPBACK_HOSTS
    if parts.scheme == "http" and not local:  # plain http would send the credential in clear over the internet
        return "is http://, not https:// (only a local test server may be plain http)", False
    return None, local


def teams_workflow_problem(url: str) -> str | None:
    wrong, _ = _web_address(url)
    if wrong:
        return wrong
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if host.endswith(".webhook.office.com") or "/webhookb2/" in parts.path or "/IncomingWebhook/" in parts.path:
        return (
            "is an Office 365 connector URL, and those are retired: make a workflow from the channel's Workflows "
            "menu and copy its trigger's HTTP POST URL"
        )
    if not WORKFLOW_PATH.search(parts.path):
        return "is not a workflow trigger's URL (…/workflows/<id>/triggers/manual/paths/invoke?…): copy it again"
    if not parse_qs(parts.query).get("sig"):
        return "has no signature (sig=): copy the whole HTTP POST URL from the workflow's trigger"
    return None


def slack_incoming_webhook_problem(url: str) -> str | None:
    wrong, local = _web_address(url)
    if wrong:
        return wrong
    if local:  # a local stand-in (a test sink) is not Slack's, and need not look like it
        return None
    parts = urlsplit(url.strip())
    if (parts.hostname or "") not in SLACK_HOOK_HOSTS:
        return "is not on hooks.slack.com: copy the Webhook URL from the app's Incoming Webhooks page"
    if not SLACK_HOOK_PATH.match(parts.path):
        return "is not shaped like https://hooks.slack.com/services/T…/B…/…: copy it again, whole"
    return None


def webhook_target_problem(url: str) -> str | None:
    wrong, _ = _web_address(url)
    return wrong
