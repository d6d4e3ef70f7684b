"""A fake Slack Web API on 127.0.0.1, following Slack's documented requests and answers, for tests.

    with SlackFake(token="xoxb-test-…") as slack:        # SLACK_API_URL = slack.url
        slack.add_channel("C0ALERTS01", "alerts")        # the bot is a member unless member=False
        slack.fail_next("chat.postMessage", Fault.rate_limited(2))

What it follows (https://docs.slack.dev/reference/methods/…): POST or GET to /api/<method>; JSON bodies
(`application/json`, token in `Authorization: Bearer`) or form bodies (`application/x-www-form-urlencoded`, where
`blocks` and `metadata` are JSON strings and the token may be a `token` field); every answer is HTTP 200 with
`"ok": true` or `"ok": false, "error": "<code>"`, except rate limits: HTTP 429 with `Retry-After` (seconds) and
`"error": "ratelimited"`. Message `ts` values are unique per channel and increase; replies carry `thread_ts`;
`conversations.history` lists a channel's top-level messages newest first, `conversations.replies` a thread oldest
first; a message's `metadata` is returned only with `include_all_metadata`. chat.postMessage takes one message per
second per channel: the fake refuses a post closer than `per_channel_s` (0.8 s) to the previous one in that
channel, which catches a client that does not pace itself without failing one that does on network jitter.

Faults, injected per method in order: a 429 with Retry-After, an HTTP 500, an `ok: false` error, or a post that is
applied and then answered only after `delay_s` (the caller's timeout fires first: "unsure").
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT_USER = "U0BOTUSER1"
BOT_ID = "B0BOTID001"
DEFAULT_SCOPES = ("chat:write", "channels:history", "groups:history", "channels:read", "groups:read")
# The scope each method needs, by the kind of channel it touches (public, private).
SCOPES = {
    "chat.postMessage": ("chat:write", "chat:write"),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "conversations.list": ("channels:read", "groups:read"),
}


@dataclass
class Fault:
    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0  # answer this late; with `apply`, the call takes effect first
    apply: bool = False

    @classmethod
    def ok(cls) -> Fault:
        """No fault: the call is served as usual (to let earlier calls through before a fault)."""
        return cls(apply=True)

    @classmethod
    def rate_limited(cls, retry_after: float = 1) -> Fault:
        return cls(status=429, error="ratelimited", retry_after=retry_after)

    @classmethod
    def server_error(cls) -> Fault:
        return cls(status=500)

    @classmethod
    def slack_error(cls, error: str) -> Fault:
        return cls(error=error)

    @classmethod
    def timeout_after_applying(cls, delay_s: float = 3.0) -> Fault:
        return cls(apply=True, delay_s=delay_s)


@dataclass
class Channel:
    id: str
    name: str
    private: bool = False
    member: bool = True
    archived: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.answer = {"ok": False, "error": error, **extra}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


class SlackFake:
    def __init__(
        self,
        *,
        token: str = "xoxb-fake-0000-token",  # noqa: S107 - the fake's own, checked against what callers send
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        per_channel_s: float = 0.8,
    ) -> None:
        self.token = token
        self.revoked: set[str] = set()
        self.scopes = set(scopes)
        self.per_channel_s = per_channel_s
        self.channels: dict[str, Channel] = {}
        self.calls: list[Call] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._last_post: dict[str, float] = {}
        self._micros = 0  # the last ts given, in microseconds
        self._lock = threading.Lock()
        self.add_channel("C0GENERAL1", "general")
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                fake._serve(self, self.rfile.read(length))

            def do_GET(self) -> None:
                fake._serve(self, b"")

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                if isinstance(sys.exc_info()[1], ConnectionError):  # a client that timed out and left
                    return
                super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SlackFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # What tests set up and read.

    def add_channel(self, channel_id: str, name: str, *, private: bool = False, member: bool = True) -> Channel:
        with self._lock:
            self.channels[channel_id] = Channel(channel_id, name, private=private, member=member)
            return self.channels[channel_id]

    def fail_next(self, method: str, *faults: Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, deque()).extend(faults)

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Every message of a channel, replies included, oldest first."""
        with self._lock:
            return [dict(m) for m in self.channels[channel_id].messages]

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    # The server side.

    def _serve(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        parts = urlsplit(handler.path)
        method = parts.path.removeprefix("/api/")
        try:
            args = self._arguments(handler, parts.query, body)
        except SlackError as error:
            self._answer(handler, 200, error.answer)
            return
        header = handler.headers.get("authorization") or ""
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else args.pop("token", None)
        with self._lock:
            self.calls.append(Call(method, args, token))
            queued = self._faults.get(method)
            fault = queued.popleft() if queued else None
        if fault is not None and not fault.apply:
            time.sleep(fault.delay_s)
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            answer = {"ok": False, "error": fault.error} if fault.error else None
            self._answer(handler, fault.status, answer, headers)
            return
        try:
            with self._lock:
                answer = self._call(method, args, token)
        except SlackError as error:
            answer = error.answer
            if error.answer["error"] == "ratelimited":
                self._answer(handler, 429, answer, {"retry-after": "1"})
                return
        if fault is not None:
            time.sleep(fault.delay_s)  # applied; the answer comes too late for the caller
        self._answer(handler, 200, answer)

    def _arguments(self, handler: BaseHTTPRequestHandler, query: str, body: bytes) -> dict[str, Any]:
        args: dict[str, Any] = {key: values[0] for key, values in parse_qs(query).items()}
        kind = (handler.headers.get("content-type") or "").split(";")[0].strip().lower()
        if not body:
            return args
        if kind == "application/json":
            try:
                loaded = json.loads(body)
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(loaded, dict):
                raise SlackError("invalid_json")
            return {**args, **loaded}
        if kind == "application/x-www-form-urlencoded":
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            for key in ("blocks", "metadata"):  # JSON-encoded strings in a form body
                if key in form:
                    try:
                        form[key] = json.loads(form[key])
                    except ValueError:
                        raise SlackError("invalid_arguments") from None
            return {**args, **form}
        raise SlackError("invalid_post_type")

    def _call(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if not token:
            raise SlackError("not_authed")
        if token in self.revoked:
            raise SlackError("token_revoked")
        if token != self.token:
            raise SlackError("invalid_auth")
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://fake.slack.com/",
                "team": "Fake",
                "user": "zaps",
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "team_id": "T0FAKETEAM",
            }
        if method == "conversations.list":
            self._need(SCOPES[method][0])
            return self._list(args)
        if method not in SCOPES:
            raise SlackError("unknown_method")
        channel = self._channel(args.get("channel"), by_name=method == "chat.postMessage")
        self._need(SCOPES[method][1 if channel.private else 0])
        if method == "chat.postMessage":
            return self._post(channel, args)
        if not channel.member:
            raise SlackError("not_in_channel")
        if method == "conversations.history":
            found = [m for m in channel.messages if m.get("thread_ts") in (None, m["ts"]) or m.get("reply_broadcast")]
            return self._page(list(reversed(found)), args)
        parent = str(args.get("ts") or "")
        if not any(m["ts"] == parent for m in channel.messages):
            raise SlackError("thread_not_found")
        thread = [m for m in channel.messages if m["ts"] == parent or m.get("thread_ts") == parent]
        return self._page(thread, args)

    def _need(self, scope: str) -> None:
        if scope not in self.scopes:
            raise SlackError("missing_scope", needed=scope, provided=",".join(sorted(self.scopes)))

    def _channel(self, given: Any, *, by_name: bool) -> Channel:
        given = str(given or "")
        if not given:
            raise SlackError("channel_not_found")
        found = self.channels.get(given)
        if found is None and by_name:  # chat.postMessage also takes a name; the reads need the ID
            found = next((c for c in self.channels.values() if c.name == given.removeprefix("#")), None)
        if found is None or (found.private and not found.member):  # a private channel is invisible to outsiders
            raise SlackError("channel_not_found")
        return found

    def _post(self, channel: Channel, args: dict[str, Any]) -> dict[str, Any]:
        if channel.archived:
            raise SlackError("is_archived")
        if not channel.member:
            raise SlackError("not_in_channel")
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks:
            raise SlackError("no_text")
        if blocks is not None and not (
            isinstance(blocks, list) and all(isinstance(b, dict) and "type" in b for b in blocks)
        ):
            raise SlackError("invalid_blocks")
        now = time.time()
        last = self._last_post.get(channel.id)
        if last is not None and now - last < self.per_channel_s:
            raise SlackError("ratelimited")
        self._last_post[channel.id] = now
        # Unique and increasing, like Slack's: seconds and microseconds, never repeated within the fake.
        self._micros = max(int(now * 1_000_000), self._micros + 1)
        ts = f"{self._micros // 1_000_000}.{self._micros % 1_000_000:06d}"
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": text or "",
            "ts": ts,
            "bot_id": BOT_ID,
            "user": BOT_USER,
        }
        if blocks is not None:
            message["blocks"] = blocks
        thread_ts = args.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            message["parent_user_id"] = BOT_USER
            if _truthy(args.get("reply_broadcast")):
                message["reply_broadcast"] = True
        metadata = args.get("metadata")
        if isinstance(metadata, dict) and metadata.get("event_type"):
            message["metadata"] = {
                "event_type": metadata["event_type"],
                "event_payload": metadata.get("event_payload", {}),
            }
        channel.messages.append(message)
        shown = {key: value for key, value in message.items() if key != "metadata"}
        return {"ok": True, "channel": channel.id, "ts": ts, "message": shown}

    def _page(self, messages: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        inclusive = _truthy(args.get("inclusive"))
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or time.time() + 1)
        chosen = [
            m
            for m in messages
            if (oldest <= float(m["ts"]) if inclusive else oldest < float(m["ts"]))
            and (float(m["ts"]) <= latest if inclusive else float(m["ts"]) < latest)
        ]
        with_metadata = _truthy(args.get("include_all_metadata"))
        shown = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in chosen]
        start = int(args.get("cursor") or 0)
        limit = min(int(args.get("limit") or 100), 999)
        page = shown[start : start + limit]
        more = start + limit < len(shown)
        return {
            "ok": True,
            "messages": [dict(m) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = str(args.get("types") or "public_channel").split(",")
        listed = [
            {"id": c.id, "name": c.name, "is_private": c.private, "is_member": c.member, "is_archived": c.archived}
            for c in self.channels.values()
            if ("private_channel" if c.private else "public_channel") in types and (c.member or not c.private)
        ]
        start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 100)
        more = start + limit < len(listed)
        return {
            "ok": True,
            "channels": listed[start : start + limit],
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _answer(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        answer: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps(answer).encode() if answer is not None else b"<html>Internal Server Error</html>"
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json; charset=utf-8" if answer else "text/html")
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("content-length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except ConnectionError:  # the caller gave up waiting (a timeout under test)
            pass
