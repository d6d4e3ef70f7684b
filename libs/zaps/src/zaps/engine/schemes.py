"""Provider signature schemes for inbound webhooks: Stripe, GitHub, Shopify, Slack, and a generic HMAC.

Each follows its provider's documented scheme exactly (the docs are linked on each class) and does three things:
`verify` refuses a request whose signature is missing, wrong or stale; `sign` makes the headers the provider would
send (for tests, the docs' examples and the fuzzer); `event_key` picks the event's unique key from what the
provider signed only, so a captured request replayed with other headers is the same event, never a new one.

    webhook(scheme=Stripe(secret_setting="stripe_webhook_secret"))

The secret is read from the settings field named by `secret_setting`, as for Zaps' own scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from zaps.signing import SignatureError

DEFAULT_TOLERANCE_S = 300
MAX_ID_LENGTH = 400  # a provider id longer than this is not an id: the body's hash decides instead


@dataclass(frozen=True)
class Reply:
    """What the webhook answers on success (a new event or a duplicate), for senders that read the answer: Twilio
    wants TwiML or an empty 200, a browser posting a plain HTML form shows the answer (or follows `location`)."""

    status: int = 200
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"
    location: str | None = None  # with a 303, the browser goes there (a "thank you" page)

    def __post_init__(self) -> None:
        # A reply says "received": an error status would make senders retry or give up on an event we stored.
        if not 200 <= self.status < 400:
            raise ValueError("a webhook reply's status must be 2xx or 3xx")
        if 300 <= self.status < 400 and not self.location:
            raise ValueError("a 3xx webhook reply needs a location")


def body_key(body: bytes) -> str:
    """The key of a body the sender signed as a whole: the same bytes are the same event."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _id_in_body(body: bytes, field: str, namespace: str) -> str | None:
    value = (_json_object(body) or {}).get(field)
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return f"{namespace}:{value}"
    return None


def _matches(expected: str, offered: list[str]) -> bool:
    # As bytes, in constant time: compare_digest refuses str with characters outside ASCII, and a header may hold any.
    return any(hmac.compare_digest(expected.encode(), value.encode("utf-8", "replace")) for value in offered)


def _unix_time(value: str | None, what: str) -> int:
    # Plain digits of a sane length: int() would also take "١٢٣" or 4,000 digits.
    if not value or not (value.isascii() and value.isdigit() and len(value) <= 12):
        raise SignatureError(f"{what} is missing or not a Unix time")
    return int(value)


def _check_fresh(timestamp: int, tolerance_s: int, now: float | None) -> None:
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        # A request captured and replayed later is refused even though its signature is right.
        raise SignatureError(f"timestamp outside the {tolerance_s} s tolerance window")


def _digest(secret: str, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret.encode(), message, algorithm).digest()


class Scheme:
    """What every provider scheme offers; subclasses are frozen dataclasses holding the scheme's options."""

    name: ClassVar[str]
    signature_headers: ClassVar[tuple[str, ...]]  # never stored with the event
    secret_setting: str

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        raise NotImplementedError

    def sign(self, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        raise NotImplementedError

    def event_key(self, body: bytes) -> str:
        return body_key(body)

    def answer(self, payload: Any) -> Reply | None:
        """A reply that replaces storing the request (a provider's handshake), or None for a real event."""
        return None

    def describe(self) -> str:
        raise NotImplementedError

    def private_headers(self) -> set[str]:
        return {header.lower() for header in self.signature_headers}


@dataclass(frozen=True)
class Stripe(Scheme):
    """`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, t + "." + body)>[,v1=…]` — one v1 per active
    secret while one is rolled; other schemes (v0, test mode) are ignored, as Stripe says, against downgrades.
    The key is the event's `id` (evt_…) inside the signed body. https://docs.stripe.com/webhooks/signature"""

    secret_setting: str
    tolerance_s: int = DEFAULT_TOLERANCE_S
    name: ClassVar[str] = "stripe"
    signature_headers: ClassVar[tuple[str, ...]] = ("Stripe-Signature",)

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        header = headers.get("stripe-signature")
        if not header:
            raise SignatureError("missing Stripe-Signature header")
        timestamp, offered = None, []
        for part in header.split(","):
            prefix, _, value = part.strip().partition("=")
            if prefix == "t":
                timestamp = value
            elif prefix == "v1":
                offered.append(value)
        ts = _unix_time(timestamp, "Stripe-Signature t=")
        expected = _digest(secret, f"{ts}.".encode() + body).hex()
        if not offered or not _matches(expected, offered):
            raise SignatureError("signature does not match")
        _check_fresh(ts, self.tolerance_s, now)

    def sign(self, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        return {"Stripe-Signature": f"t={ts},v1={_digest(secret, f'{ts}.'.encode() + body).hex()}"}

    def event_key(self, body: bytes) -> str:
        return _id_in_body(body, "id", "stripe") or body_key(body)

    def describe(self) -> str:
        return (
            "Signed the Stripe way: `Stripe-Signature: t=<unix time>,v1=<hex of HMAC-SHA256(secret, t + '.' + "
            f"body)>` (several `v1` accepted), within {self.tolerance_s} s. One event per Stripe event `id`."
        )


@dataclass(frozen=True)
class GitHub(Scheme):
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. GitHub signs no timestamp and not the
    `X-GitHub-Delivery` header (anyone could send a captured body with a new one), so the key is the body's
    SHA-256. https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries"""

    secret_setting: str
    name: ClassVar[str] = "github"
    signature_headers: ClassVar[tuple[str, ...]] = ("X-Hub-Signature-256", "X-Hub-Signature")

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        offered = headers.get("x-hub-signature-256")
        if not offered:
            raise SignatureError("missing X-Hub-Signature-256 header")
        if not _matches("sha256=" + _digest(secret, body).hex(), [offered.strip()]):
            raise SignatureError("signature does not match")

    def sign(self, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        return {"X-Hub-Signature-256": "sha256=" + _digest(secret, body).hex()}

    def describe(self) -> str:
        return (
            "Signed the GitHub way: `X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, body)>`. Identical "
            "bodies are one event (`X-GitHub-Delivery` is not signed, so it does not count)."
        )


@dataclass(frozen=True)
class Shopify(Scheme):
    """`X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(app client secret, body)>`. The key is the body's SHA-256: the
    `X-Shopify-Webhook-Id` header is not signed, and the body's own `id` is the order's or product's, the same
    for each of its updates. https://shopify.dev/docs/apps/build/webhooks/subscribe/https"""

    secret_setting: str
    name: ClassVar[str] = "shopify"
    signature_headers: ClassVar[tuple[str, ...]] = ("X-Shopify-Hmac-Sha256",)

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        offered = headers.get("x-shopify-hmac-sha256")
        if not offered:
            raise SignatureError("missing X-Shopify-Hmac-Sha256 header")
        if not _matches(base64.b64encode(_digest(secret, body)).decode(), [offered.strip()]):
            raise SignatureError("signature does not match")

    def sign(self, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        return {"X-Shopify-Hmac-Sha256": base64.b64encode(_digest(secret, body)).decode()}

    def describe(self) -> str:
        return (
            "Signed the Shopify way: `X-Shopify-Hmac-Sha256: <base64 of HMAC-SHA256(client secret, body)>`. "
            "Identical bodies are one event."
        )


@dataclass(frozen=True)
class Slack(Scheme):
    """Slack's v0 signing: `X-Slack-Request-Timestamp: <unix time>` and `X-Slack-Signature: v0=<hex
    HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + body)>`, within five minutes. The key is the Events
    API's `event_id` (the same on Slack's retries); other requests (slash commands) use the body's SHA-256.
    The `url_verification` handshake is answered with its challenge and stored as no event.
    https://api.slack.com/authentication/verifying-requests-from-slack"""

    secret_setting: str
    tolerance_s: int = DEFAULT_TOLERANCE_S
    name: ClassVar[str] = "slack"
    signature_headers: ClassVar[tuple[str, ...]] = ("X-Slack-Signature",)

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        offered = headers.get("x-slack-signature")
        if not offered:
            raise SignatureError("missing X-Slack-Signature header")
        timestamp = headers.get("x-slack-request-timestamp")
        ts = _unix_time(timestamp, "X-Slack-Request-Timestamp")
        expected = "v0=" + _digest(secret, f"v0:{ts}:".encode() + body).hex()
        if not _matches(expected, [offered.strip()]):
            raise SignatureError("signature does not match")
        _check_fresh(ts, self.tolerance_s, now)

    def sign(self, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        return {
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": "v0=" + _digest(secret, f"v0:{ts}:".encode() + body).hex(),
        }

    def event_key(self, body: bytes) -> str:
        return _id_in_body(body, "event_id", "slack") or body_key(body)

    def answer(self, payload: Any) -> Reply | None:
        if isinstance(payload, dict) and payload.get("type") == "url_verification":
            challenge = payload.get("challenge")
            if isinstance(challenge, str):
                return Reply(status=200, body=challenge, content_type="text/plain; charset=utf-8")
        return None

    def describe(self) -> str:
        return (
            "Signed the Slack way (v0): `X-Slack-Request-Timestamp: <unix time>` and `X-Slack-Signature: v0=<hex "
            "of HMAC-SHA256(signing secret, 'v0:' + timestamp + ':' + body)>`, within "
            f"{self.tolerance_s} s. One event per Events API `event_id`. A signed `url_verification` request is "
            "answered `200` with its `challenge` as text and stored as no event."
        )


@dataclass(frozen=True)
class Hmac(Scheme):
    """Any sender that signs with an HMAC: which header, hash, encoding and prefix, and whether the signed content
    is the body alone or a timestamp (from `timestamp_header`) + `separator` + body, checked within `tolerance_s`.

        Hmac(secret_setting="typeform_secret", header="Typeform-Signature", encoding="base64", prefix="sha256=")

    The key is the body's SHA-256 (a header the sender does not sign could be changed by anyone)."""

    secret_setting: str
    header: str = "X-Signature"
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    separator: str = "."
    tolerance_s: int = DEFAULT_TOLERANCE_S
    name: ClassVar[str] = "custom-hmac"  # not "hmac": that names Zaps' own scheme in `Webhook.describe()`
    signature_headers: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.algorithm not in ("sha1", "sha256", "sha512") or self.encoding not in ("hex", "base64"):
            raise ValueError("Hmac: algorithm is sha1, sha256 or sha512; encoding is hex or base64")

    def private_headers(self) -> set[str]:
        return {self.header.lower()}

    def _signed(self, body: bytes, timestamp: str | None) -> bytes:
        return body if timestamp is None else timestamp.encode() + self.separator.encode() + body

    def _encode(self, digest: bytes) -> str:
        return self.prefix + (digest.hex() if self.encoding == "hex" else base64.b64encode(digest).decode())

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        offered = headers.get(self.header.lower())
        if not offered:
            raise SignatureError(f"missing {self.header} header")
        timestamp = None
        if self.timestamp_header is not None:
            timestamp = headers.get(self.timestamp_header.lower())
            _unix_time(timestamp, self.timestamp_header)
        expected = self._encode(_digest(secret, self._signed(body, timestamp), self.algorithm))
        offered = offered.strip()
        if self.encoding == "hex":  # hex digits in either case are the same digest
            expected, offered = expected.lower(), offered.lower()
        if not _matches(expected, [offered]):
            raise SignatureError("signature does not match")
        if timestamp is not None:
            _check_fresh(int(timestamp), self.tolerance_s, now)

    def sign(self, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        headers = {}
        ts = None
        if self.timestamp_header is not None:
            ts = str(int(time.time()) if timestamp is None else timestamp)
            headers[self.timestamp_header] = ts
        headers[self.header] = self._encode(_digest(secret, self._signed(body, ts), self.algorithm))
        return headers

    def describe(self) -> str:
        content = (
            "body"
            if self.timestamp_header is None
            else f"{self.timestamp_header} + {self.separator!r} + body, within {self.tolerance_s} s"
        )
        return (
            f"Signed with HMAC-{self.algorithm.upper()}: `{self.header}: {self.prefix}<{self.encoding} of "
            f"HMAC(secret, {content})>`. Identical bodies are one event."
        )
