"""Any HTTP call as a step (`run.http`): what is sent, what is recorded of it, and what comes back.

The failures are the engine's, as for the built-in webhook (`zaps.actions.http`): no connection made, a 5xx or a 429
(with its Retry-After) retry; a timeout after sending is *unsure*; any other 4xx is permanent, and its status and the
head of its body are kept in the error so the dead run says why. Credentials never reach a run record: the recorded
input names the kind of auth only, and headers, query parameters and body fields whose names look secret are
replaced by a marker; an answer that echoes a credential is redacted before it is kept.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit, urlunsplit

import httpx

from zaps import sending
from zaps.actions.http import NOT_SENT, USER_AGENT, raise_for_answer, trace_sending
from zaps.logging import REDACTED, redact
from zaps.retry import PermanentError, RetryableError, UnsureError

# What a run keeps of an answer stays under the ledger's own cap (16 KiB, `zaps.engine.run`), so a replay gets back
# the same shape it got the first time, never the ledger's "truncated" marker.
MAX_BODY_CHARS = 8 * 1024
MAX_HEADER_CHARS = 200
MAX_HEADERS = 30
MAX_ANSWER_CHARS = 15 * 1024  # the whole answer once serialised (escapes can make a body longer than its text)
MAX_ERROR_BODY_CHARS = 500  # the head of a refused answer, in the dead run's error
# A name that holds a credential: its value is never recorded. Matches Authorization, X-API-Key, api_key, token,
# client_secret, password, Cookie and the like.
SECRET_NAME = re.compile(r"(?i)authori[sz]ation|cookie|password|passwd|secret|token|api[_-]?key|signature|^sig$")
# Answer headers a run does not keep: a session the server opened is a credential too.
DROPPED_ANSWER_HEADERS = frozenset({"set-cookie", "www-authenticate", "proxy-authenticate"})

Headers = Mapping[str, str]
Fields = Mapping[str, Any]  # query parameters, form fields
METHODS: frozenset[str] = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpAnswer(TypedDict):
    """What `run.http` returns (and what the ledger keeps for a replay)."""

    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON when the answer says it is JSON, else text; cut to MAX_BODY_CHARS
    truncated: bool  # the body was longer than what is kept


@dataclass(frozen=True)
class HttpCall:
    """One request, checked when it is described (a mistake is a bug in the handler, not a retry)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Any] | None = None
    json_body: Any = None
    form: Mapping[str, Any] | None = None
    content: bytes | str | None = None
    auth: tuple[str, str] | None = None
    bearer: str | None = None
    timeout_s: float | None = None
    idempotency_key_header: str | None = None
    url_is_secret: bool = False  # a signed URL (a Teams workflow, a Slack webhook): only its host is ever shown

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(sorted(METHODS))}, not {self.method!r}")
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("url must be an http:// or https:// address")
        bodies = [name for name in ("json", "form", "content") if self._body(name) is not None]
        if len(bodies) > 1:
            raise ValueError(f"give one body, not {' and '.join(bodies)}")
        if self.auth is not None and self.bearer is not None:
            raise ValueError("give auth= (basic) or bearer=, not both")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError("timeout must be positive")

    def _body(self, name: str) -> Any:
        return {"json": self.json_body, "form": self.form, "content": self.content}[name]

    def secrets(self) -> list[str]:
        """The credential values this call carries, to be redacted from anything kept of its answer."""
        values = [self.bearer or "", self.auth[1] if self.auth else ""]
        values += [value for name, value in self.headers.items() if SECRET_NAME.search(name)]
        values += [str(value) for name, value in (self.query or {}).items() if SECRET_NAME.search(name)]
        if self.url_is_secret:
            values.append(self.url)
        return [value for value in values if len(value) >= 4]

    def recorded(self) -> dict[str, Any]:
        """The step's input as the run record keeps it: everything but the credentials."""
        shown: dict[str, Any] = {"method": self.method, "url": self.shown_url()}
        if self.headers:
            shown["headers"] = redacted_fields(self.headers)
        if self.query:
            shown["query"] = redacted_fields(self.query)
        if self.json_body is not None:
            shown["json"] = redacted_value(self.json_body)
        if self.form is not None:
            shown["form"] = redacted_fields(self.form)
        if self.content is not None:
            text = self.content if isinstance(self.content, str) else self.content.decode("utf-8", "replace")
            shown["content"] = without(text[:MAX_BODY_CHARS], self.secrets())
        if self.auth is not None:
            shown["auth"] = "basic"  # the kind only: even the user name can be half a credential
        if self.bearer is not None:
            shown["auth"] = "bearer"
        if self.idempotency_key_header:
            shown["idempotency_key_header"] = self.idempotency_key_header
        return shown

    def shown_url(self, *, keep_query: bool = True) -> str:
        if self.url_is_secret:
            parts = urlsplit(self.url)
            return f"{parts.scheme}://{parts.hostname}/{REDACTED}"
        return redacted_url(self.url, keep_query=keep_query)

    async def send(self, client: httpx.AsyncClient, *, idempotency_key: str, default_timeout_s: float) -> HttpAnswer:
        headers = dict(self.headers)
        if self.bearer is not None:
            headers["Authorization"] = f"Bearer {self.bearer}"
        if self.idempotency_key_header:
            headers[self.idempotency_key_header] = idempotency_key
        what = f"{self.method} {self.shown_url(keep_query=False)}"
        sending.not_sent()  # within a step: its timeout tells "not sent" from "unsure" by this (zaps.sending)
        try:
            response = await client.request(
                self.method,
                self.url,
                headers=headers,
                params=dict(self.query) if self.query else None,
                json=self.json_body,
                data=dict(self.form) if self.form is not None else None,
                content=self.content,
                auth=self.auth,
                timeout=self.timeout_s or default_timeout_s,
                extensions={"trace": trace_sending},
            )
        except NOT_SENT as error:  # nothing reached the server: retry as usual
            raise RetryableError(f"{what} unreachable: {type(error).__name__}") from None
        except httpx.TransportError as error:  # sent, and no answer: it may have been done
            raise UnsureError(f"{what} did not answer after the request was sent: {type(error).__name__}") from None
        refuse_for_answer(response, what, self.secrets())
        return answer_of(response, self.secrets())


def refuse_for_answer(response: httpx.Response, what: str, secrets: list[str]) -> None:
    """5xx and 429 retry (`raise_for_answer`); any other 4xx is permanent, with the answer's status and head."""
    status = response.status_code
    if status < 400 or status == 429 or status >= 500:
        raise_for_answer(response, what)
        return
    head = redact(response.text[:MAX_ERROR_BODY_CHARS], secrets).strip()
    raise PermanentError(f"{what} answered {status}" + (f": {head}" if head else ""))


def answer_of(response: httpx.Response, secrets: list[str]) -> HttpAnswer:
    """Status, the headers worth keeping and the parsed body, bounded and with any echoed credential redacted."""
    # Only this call's own credentials are cut from a kept answer: a pattern would also blank what the caller asked
    # for (an access token fetched on purpose, say).
    text = without(response.text, secrets)
    truncated = len(text) > MAX_BODY_CHARS
    body: Any = text[:MAX_BODY_CHARS]
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not truncated and (content_type == "application/json" or content_type.endswith("+json")):
        with contextlib.suppress(ValueError):
            body = json.loads(text) if text else None
    headers = {
        name: without(value[:MAX_HEADER_CHARS], secrets)
        for name, value in list(response.headers.items())[:MAX_HEADERS]
        if name.lower() not in DROPPED_ANSWER_HEADERS
    }
    answer: HttpAnswer = {"status": response.status_code, "headers": headers, "body": body, "truncated": truncated}
    limit = MAX_BODY_CHARS
    while len(json.dumps(answer, default=str)) > MAX_ANSWER_CHARS and limit > 0:
        limit //= 2
        answer["body"], answer["truncated"] = text[:limit], True
    return answer


def without(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redacted_url(url: str, *, keep_query: bool = True) -> str:
    """The URL without a password in it, and with secret-looking query values replaced by the marker."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = ""
    if keep_query and parts.query:
        pairs = [pair.partition("=") for pair in parts.query.split("&")]
        query = "&".join(
            f"{name}={REDACTED}" if SECRET_NAME.search(name) else f"{name}{sep}{value}" for name, sep, value in pairs
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redacted_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: REDACTED if SECRET_NAME.search(name) else redacted_value(value) for name, value in fields.items()}


def redacted_value(value: Any) -> Any:
    """A JSON body with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, Mapping):
        return redacted_fields({str(name): item for name, item in value.items()})
    if isinstance(value, list | tuple):
        return [redacted_value(item) for item in value]
    return value


def default_on_unsure(idempotency_key_header: str | None) -> Literal["resend", "hold"]:
    """Without a key the target can deduplicate on, a repeat may double the effect: hold it for a person."""
    return "resend" if idempotency_key_header else "hold"


def client(timeout_s: float) -> httpx.AsyncClient:
    """The process's client for `run.http` (one pool; redirects are returned as answers, not followed)."""
    return httpx.AsyncClient(timeout=timeout_s, headers={"user-agent": USER_AGENT}, follow_redirects=False)
