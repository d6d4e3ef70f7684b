"""Expected failures are types. Each carries its HTTP status and a stable code; one handler turns them into the
single JSON error shape every Zaps API answers with:

    {"error": {"code": "not_found", "message": "…", "request_id": "…"}}
"""

from __future__ import annotations

from typing import Any


class ZapsError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(ZapsError):
    status_code = 404
    code = "not_found"


class Unauthorized(ZapsError):
    status_code = 401
    code = "unauthorized"


class PayloadTooLarge(ZapsError):
    status_code = 413
    code = "payload_too_large"


class InvalidPayload(ZapsError):
    status_code = 422
    code = "invalid_payload"


class Conflict(ZapsError):
    """The request does not fit the resource's state (e.g. settling a run that is not waiting for review)."""

    status_code = 409
    code = "conflict"


class Unavailable(ZapsError):
    """A dependency (the database, Redis) did not answer; the caller should retry."""

    status_code = 503
    code = "unavailable"
