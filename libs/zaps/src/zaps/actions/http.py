"""Outbound HTTP: signed JSON webhooks and Slack incoming webhooks, with timeouts and typed failures."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx

from zaps import sending, signing
from zaps.retry import PermanentError, RetryableError, UnsureError, parse_retry_after

USER_AGENT = "zaps/0.1"
# Raised before a byte of the request left (a connection refused or never opened, no pooled connection free).
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def raise_for_answer(response: httpx.Response, what: str) -> None:
    """Turn an HTTP answer into the engine's failure types: 429 and 5xx retry, other 4xx do not."""
    if response.status_code < 400:
        return
    message = f"{what} answered {response.status_code}"
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(message, retry_after=parse_retry_after(response.headers.get("retry-after")))
    raise PermanentError(message)


async def trace_sending(event: str, info: dict[str, Any]) -> None:
    # httpcore's progress events: once the request's headers start out, the target may act on it.
    if event.endswith("send_request_headers.started"):
        sending.sent()


async def post(
    client: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str], what: str
) -> httpx.Response:
    sending.not_sent()
    step = sending.current()
    # Within a step, its timeout bounds each phase too (connect, write, read), so a longer step timeout than the
    # client's default is honoured and a connect that outlasts it is told apart (not sent) from a read that does.
    timeout = httpx.Timeout(step.timeout_s) if step else httpx.USE_CLIENT_DEFAULT
    try:
        response = await client.post(
            url, content=content, headers=headers, timeout=timeout, extensions={"trace": trace_sending}
        )
    except NOT_SENT as error:  # no connection was made, so nothing reached the target: retry as usual
        raise RetryableError(f"{what} unreachable: {type(error).__name__}") from None
    except httpx.TransportError as error:  # a timeout or a lost connection after sending: it may have arrived
        raise UnsureError(f"{what} did not answer after the request was sent: {type(error).__name__}") from None
    raise_for_answer(response, what)
    return response


def _summary(response: httpx.Response) -> dict[str, Any]:
    body: Any = response.text[:2000]
    if response.headers.get("content-type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            body = response.json()
    return {"status": response.status_code, "body": body}


class HttpWebhook:
    """POST JSON to a URL, signed with HMAC-SHA256 when a secret is given, carrying the Idempotency-Key."""

    def __init__(self, *, timeout_s: float = 10.0, default_secret: str | None = None) -> None:
        self.client = httpx.AsyncClient(timeout=timeout_s, headers={"user-agent": USER_AGENT})
        self.default_secret = default_secret

    async def send(self, *, url: str, payload: Any, idempotency_key: str, secret: str | None = None) -> dict[str, Any]:
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        headers = {"content-type": "application/json"}
        key = secret or self.default_secret
        if key:
            # v2 signs the Idempotency-Key too, so a Zaps receiver (or any that checks v2) can trust it.
            headers.update(signing.sign(key, body, idempotency_key=idempotency_key))
        else:
            headers["Idempotency-Key"] = idempotency_key
        response = await post(self.client, url, content=body, headers=headers, what="webhook target")
        return _summary(response)

    async def aclose(self) -> None:
        await self.client.aclose()


class SlackWebhook:
    """Post a message through a Slack incoming webhook (https://api.slack.com/messaging/webhooks)."""

    def __init__(self, *, default_url: str | None, timeout_s: float = 10.0) -> None:
        self.client = httpx.AsyncClient(timeout=timeout_s, headers={"user-agent": USER_AGENT})
        self.default_url = default_url

    async def send(self, *, text: str, idempotency_key: str, webhook_url: str | None = None) -> dict[str, Any]:
        url = webhook_url or self.default_url
        if not url:
            raise PermanentError("no Slack webhook URL configured (SLACK_WEBHOOK_URL)")
        body = json.dumps({"text": text}).encode()
        # Slack ignores the key; it is sent anyway so a proxy or a test sink can deduplicate.
        headers = {"content-type": "application/json", "idempotency-key": idempotency_key}
        response = await post(self.client, url, content=body, headers=headers, what="Slack")
        return {"status": response.status_code, "body": response.text[:200]}

    async def aclose(self) -> None:
        await self.client.aclose()
