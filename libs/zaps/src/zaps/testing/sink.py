"""A real HTTP server on 127.0.0.1 that plays a customer's webhook target or Slack: it records every request and
answers from a script (e.g. 500, 500, then 200), so tests see exactly what went over the wire."""

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


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    status: int = 200  # what the sink answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'
    delay_s: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a stalled reply (a timeout under test) is expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Sink:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lookups: list[str] = []  # the keys asked for by GET /_received?key=K (the `verify` calls it answered)
        self._script: deque[Reply] = deque()
        self._by_path: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-body (a worker killed while sending): a real receiver rejects a
                    # truncated request, so it is recorded as refused (400), not as a delivery, and takes no reply.
                    with sink._lock:
                        headers = {k.lower(): v for k, v in self.headers.items()}
                        sink.requests.append(Received(self.path, headers, body, status=400))
                    return
                with sink._lock:
                    scripted = sink._by_path.get(self.path) or sink._script
                    reply = scripted.popleft() if scripted else Reply()
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    sink.requests.append(Received(self.path, headers, body, status=reply.status))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def do_GET(self) -> None:
                # A process other than the test's own (a worker under test) asks the target "did this arrive?", as
                # a `verify` function does. GET /_received?key=K: 200 with the delivery this Idempotency-Key
                # brought (the first the sink accepted, 2xx), or 404 if none did. GET /_received?path=/x: the
                # Idempotency-Keys that reached /x.
                query = parse_qs(urlsplit(self.path).query)
                answer: dict[str, Any]
                if "key" in query:
                    key = query["key"][0]
                    with sink._lock:
                        sink.lookups.append(key)
                        found = next(
                            (
                                r
                                for r in sink.requests
                                if r.headers.get("idempotency-key") == key and 200 <= r.status < 300
                            ),
                            None,
                        )
                    if found is None:
                        status, answer = 404, {"key": key, "received": None}
                    else:
                        delivery = {"path": found.path, "status": found.status, "body": found.body.decode()}
                        status, answer = 200, {"key": key, "received": delivery}
                else:
                    path = (query.get("path") or [""])[0]
                    with sink._lock:
                        keys = sorted({r.headers.get("idempotency-key", "") for r in sink.requests if r.path == path})
                    status, answer = 200, {"keys": keys}
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *replies: Reply | int, path: str | None = None) -> None:
        """Answer the next requests with these (a bare number is a status code); then 200.

        With `path`, only requests to that path take them: other traffic to the sink (an alert, say) cannot use up
        a reply meant for the action under test.
        """
        with self._lock:
            queue = self._script if path is None else self._by_path.setdefault(path, deque())
            queue.extend(Reply(r) if isinstance(r, int) else r for r in replies)

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def applied(self, path: str | None = None) -> set[str]:
        """Distinct Idempotency-Keys received (what a careful receiver would have acted on)."""
        return {r.headers.get("idempotency-key", "") for r in self.requests if path is None or r.path == path}
