"""Webhook signatures: HMAC-SHA256 with a timestamp, checked within a tolerance window.

The same scheme signs what Zaps sends and checks what it receives, so one Zaps service can call another. Two
versions, told apart by the prefix of the signature:

    X-Zaps-Timestamp: 1764090000
    X-Zaps-Signature: v1=<hex of HMAC(secret, timestamp + "." + body)>
    X-Zaps-Signature: v2=<hex of HMAC(secret, timestamp + "\\n" + idempotency_key + "\\n" + body)>
    Idempotency-Key: <the key v2 signs; 1 to 450 printable ASCII characters>

Only v2 covers the `Idempotency-Key` header, so only under v2 does the key decide which deliveries are the same
event; under v1 (or a shared token) anyone who captured a request could re-send it with a new key, so the key is
ignored and the raw body decides. The newline cannot occur in a timestamp or in a header value (and a key holding
one is refused), so the signed string splits only one way.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "x-zaps-timestamp"
SIGNATURE_HEADER = "x-zaps-signature"
IDEMPOTENCY_HEADER = "idempotency-key"
DEFAULT_TOLERANCE_S = 300
MAX_KEY_LENGTH = 450  # what the event key column was sized for


class SignatureError(Exception):
    """Why a request's signature was refused (the message is safe to return to the sender)."""


def _digest(secret: str, timestamp: str, body: bytes, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        signed = timestamp.encode() + b"." + body
    else:
        signed = timestamp.encode() + b"\n" + idempotency_key.encode() + b"\n" + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _check_key(idempotency_key: str) -> None:
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in idempotency_key):
        raise SignatureError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")


def _matches(expected: str, candidates: list[str]) -> bool:
    # As bytes: compare_digest refuses str with characters outside ASCII, and a header may hold any.
    return any(hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace")) for candidate in candidates)


def sign(
    secret: str, body: bytes, timestamp: int | None = None, *, idempotency_key: str | None = None
) -> dict[str, str]:
    """Headers that sign `body` now (or at `timestamp`); with `idempotency_key`, v2 headers that sign the key too
    (and carry it)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    if idempotency_key is None:
        return {"X-Zaps-Timestamp": ts, "X-Zaps-Signature": f"v1={_digest(secret, ts, body, None)}"}
    try:
        _check_key(idempotency_key)
    except SignatureError as error:
        raise ValueError(str(error)) from None
    return {
        "X-Zaps-Timestamp": ts,
        "X-Zaps-Signature": f"v2={_digest(secret, ts, body, idempotency_key)}",
        "Idempotency-Key": idempotency_key,
    }


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    idempotency_key: str | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str | None:
    """Check the signature; return the Idempotency-Key it covers (v2), or None when it covers only the body (v1)."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Zaps-Timestamp or X-Zaps-Signature header")
    # Plain digits of a sane length: int() would also take "١٢٣" or 4,000 digits (too large to compare with a float).
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("X-Zaps-Timestamp is not a Unix time")
    ts = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        # An old request replayed by someone who captured it is refused even with a valid signature.
        raise SignatureError(f"timestamp outside the {tolerance_s} s tolerance window")
    offered: dict[str, list[str]] = {"v1": [], "v2": []}
    for part in signature.split(","):
        version, _, digest = part.strip().partition("=")
        if version in offered:
            offered[version].append(digest.strip())
    if offered["v2"]:
        # A request that signs its key is judged by that signature alone: falling back to a v1 signature sent
        # beside it would let a re-sent copy with another key through as a new event.
        if idempotency_key is None:
            raise SignatureError("a v2 signature needs the Idempotency-Key header it signs")
        _check_key(idempotency_key)
        expected = _digest(secret, timestamp, body, idempotency_key)
        if _matches(expected, offered["v2"]):
            return idempotency_key
        raise SignatureError("signature does not match")
    expected = _digest(secret, timestamp, body, None)
    if _matches(expected, offered["v1"]):
        return None
    raise SignatureError("signature does not match")


def token_matches(expected: str, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(expected.encode(), offered.encode())
