"""What a connection check found: one line per connection, and whether the command as a whole passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zaps.retry import UnsureError


class Status(StrEnum):
    OK = "ok"
    SHAPE_OK = "shape ok"  # a write-only URL that looks right; it could not be tried without posting
    FAILED = "failed"
    NOT_CONFIGURED = "not configured"  # and no automation uses it: nothing to check, nothing wrong


@dataclass
class Outcome:
    name: str  # as the owner knows it: "Google Sheets", "Email (SMTP)"
    status: Status
    detail: str
    used_by: list[str] = field(default_factory=list)  # the automations that declare they use it

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": str(self.status), "detail": self.detail, "used_by": self.used_by}


def failure_reason(error: BaseException, limit_s: float) -> str:
    """An exception raised by a check, said as a reason. A check only reads, so a timeout after sending is not
    "unsure" as it would be for a step: it is a host that did not answer in time."""
    said = str(error) or type(error).__name__
    if isinstance(error, TimeoutError):
        return f"no answer within {limit_s:g} s (the time limit of a check)"
    if isinstance(error, UnsureError) or "Timeout" in said:
        return f"no answer within {limit_s:g} s: {said}"
    return said
