"""What went wrong in a RingCentral call, as a type the caller can act on.

RingCentral answers a failure with `{"errors": [{"errorCode": "CMN-101", "message": …, "parameterName": …}]}`, older
endpoints add a top-level `errorCode`/`message`, and the OAuth endpoint adds RFC 6749's `error` and
`error_description`. `error_from_response` reads all of them and picks the class by the codes first and the HTTP
status second, because the codes are the documented contract and the messages are not.

Messages never carry a credential: the caller passes the secrets it holds and the library's `zaps.logging.redact`
cuts them out of anything the server echoed back, and no request header or body is ever quoted. Retry-After is
read by the library's `zaps.retry.parse_retry_after`, the same as for every other action.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from zaps.logging import redact
from zaps.retry import parse_retry_after

# Codes that mean "your sync token is no good: run FSync again" (research §2.2 and §2.5).
SYNC_RESET_CODES = frozenset({"CLG-101", "CLG-102", "CLG-103", "CLG-104", "CLG-105", "MSG-333"})
# Codes RingCentral sends with a 429 (research §3).
RATE_LIMIT_CODES = frozenset({"CMN-301", "CMN-302", "CMN-303", "CMN-304", "CMN-310", "MSG-305"})
# Without Retry-After, wait a whole penalty: a request during the penalty starts it again (research §3).
DEFAULT_RETRY_AFTER_S = 60.0


class RingCentralError(Exception):
    """Base class. `retryable` tells the engine whether the same call may succeed later without a change."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status: int | None = None,
        error_codes: tuple[str, ...] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.error_codes = error_codes
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status}, error_codes={self.error_codes})"


class RateLimited(RingCentralError):
    """429: the group's budget is spent. Nothing was done; send again after `retry_after` seconds, not before."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float, group: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.group = group


class AuthError(RingCentralError):
    """The credentials, the token or a permission was refused (401, 403, or an OAuth error on the token call)."""

    def __init__(self, message: str, *, oauth_error: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.oauth_error = oauth_error


class SyncTokenInvalid(RingCentralError):
    """The sync token is expired, reset or over the 250-record limit: start again with FSync."""


class Rejected(RingCentralError):
    """A 4xx that will fail the same way if repeated: the request or the configuration must change.

    (A run step turns it into the library's `zaps.PermanentError`; see `sms.as_run_error`.)
    """


class NotFound(Rejected):
    """404 (CMN-102): the record or the path does not exist."""


class ServerError(RingCentralError):
    """5xx, or no answer at all: RingCentral may succeed later. For a POST the outcome is unknown."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class NetworkError(ServerError):
    """The request timed out or the connection failed before an answer came back."""


def _body(content: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    operation: str,
    group: str | None = None,
    secrets: Iterable[str] = (),
) -> RingCentralError:
    """The typed error for a failed answer; its message names the operation, status, codes and server message."""
    body = _body(content)
    entries = [entry for entry in body.get("errors") or [] if isinstance(entry, dict)]
    codes = [str(entry["errorCode"]) for entry in entries if entry.get("errorCode")]
    if body.get("errorCode") and str(body["errorCode"]) not in codes:
        codes.append(str(body["errorCode"]))
    parameters = {str(entry.get("parameterName")) for entry in entries if entry.get("parameterName")}
    oauth_error = str(body["error"]) if isinstance(body.get("error"), str) else None
    server_message = next(
        (
            str(text)
            for text in [
                body.get("error_description"),
                *(entry.get("message") for entry in entries),
                body.get("message"),
            ]
            if text
        ),
        "",
    )
    code_set = frozenset(codes)
    label = ", ".join(codes) or oauth_error or "no error code"
    message = redact(f"RingCentral {operation} failed: HTTP {status} ({label}) {server_message}".strip(), secrets)
    common: dict[str, Any] = {
        "operation": operation,
        "status": status,
        "error_codes": tuple(codes),
        "request_id": headers.get("rcrequestid"),
    }

    if status == 429 or code_set & RATE_LIMIT_CODES:
        retry_after = parse_retry_after(headers.get("retry-after"))
        return RateLimited(
            message,
            retry_after=DEFAULT_RETRY_AFTER_S if retry_after is None else retry_after,
            group=headers.get("x-rate-limit-group") or group,
            **common,
        )
    # The overflow answer ("Parameter [syncToken] is invalid [max sync record number limit is exceeded]") has no
    # documented code of its own, so a rejected syncToken parameter counts as a reset too.
    if code_set & SYNC_RESET_CODES or (400 <= status < 500 and "syncToken" in parameters):
        return SyncTokenInvalid(message, **common)
    if status >= 500:
        return ServerError(message, retry_after=parse_retry_after(headers.get("retry-after")), **common)
    if status in (401, 403) or oauth_error is not None or any(code.startswith("OAU-") for code in codes):
        return AuthError(message, oauth_error=oauth_error, **common)
    if status == 404:
        return NotFound(message, **common)
    return Rejected(message, **common)
