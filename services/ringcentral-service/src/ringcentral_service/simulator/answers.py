"""What the simulator sends back and remembers: answers in RingCentral's error shape, rate-limit headers, and the
request log the contract test reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ringcentral_service.simulator.config import GroupLimit


@dataclass
class Exchange:
    """One request the simulator answered and its answer, kept for the contract test and for inspection."""

    operation: str
    method: str
    url: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON-able, or bytes for media
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def error_answer(status: int, code: str, message: str, *, parameter: str | None = None, **extra: Any) -> Answer:
    entry: dict[str, Any] = {"errorCode": code, "message": message}
    if parameter is not None:
        entry["parameterName"] = parameter
    return Answer(status, {**extra, "errors": [entry]})


class QueryView:
    """The query string as ordered pairs: RingCentral repeats keys for lists (messageType=SMS&messageType=Fax)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def one(self, name: str) -> str | None:
        return next((value for key, value in self.pairs if key == name), None)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def rate_headers(group: str, limit: GroupLimit | None, remaining: int) -> dict[str, str]:
    if limit is None:
        return {}
    return {
        "X-Rate-Limit-Group": group,
        "X-Rate-Limit-Limit": str(limit.limit),
        "X-Rate-Limit-Remaining": str(max(remaining, 0)),
        "X-Rate-Limit-Window": seconds(limit.window_s),
    }


def invalid(parameter: str) -> Answer:
    return error_answer(400, "CMN-101", f"Parameter [{parameter}] value is invalid", parameter=parameter)


def oauth_error(error: str, code: str, message: str, *, parameter: str | None = None) -> Answer:
    answer = error_answer(400, code, message, parameter=parameter)
    answer.body = {"error": error, "error_description": message, **answer.body}
    return answer
