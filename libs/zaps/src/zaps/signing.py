"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", checked within a tolerance window.

The same scheme signs what Zaps sends and checks what it receives, so one Zaps service can call another:

    X-Zaps-Timestamp: 1764090000
    X-Zaps-Signature: v1=<hex digest>
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "x-zaps-timestamp"
SIGNATURE_HEADER = "x-zaps-signature"
DEFAULT_TOLERANCE_S = 300


class SignatureError(Exception):
    """Why a request's signature was refused (the message is safe to return to the sender)."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers that sign `body` now (or at `timestamp`)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Zaps-Timestamp": ts, "X-Zaps-Signature": f"v1={digest}"}


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    if not timestamp or not signature:
        raise SignatureError("missing X-Zaps-Timestamp or X-Zaps-Signature header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("X-Zaps-Timestamp is not a Unix time") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        # An old request replayed by someone who captured it is refused even with a valid signature.
        raise SignatureError(f"timestamp outside the {tolerance_s} s tolerance window")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    offered = [part.removeprefix("v1=") for part in signature.split(",") if part.strip().startswith("v1=")]
    if not any(hmac.compare_digest(expected, candidate.strip()) for candidate in offered):
        raise SignatureError("signature does not match")


def token_matches(expected: str, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(expected.encode(), offered.encode())
