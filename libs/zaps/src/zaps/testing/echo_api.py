"""A real HTTP API on 127.0.0.1 for tests of `run.http`: it records every request (method, path, query, headers,
body), answers any method, checks basic and bearer credentials the way an API does (401 without them), and follows
a per-path script (503 then 200, a 429 with Retry-After, a reply that stalls past the client's timeout).

Paths:
- `/echo`: 200 with a JSON account of the request (method, query, content type, body, form fields, JSON);
- `/text`: 200 with a plain-text body;
- `/basic`, `/bearer`: like `/echo`, but 401 unless the request carries the configured credentials;
- anything else: 404 with a JSON error.
A scripted reply for a path is used first, whatever the path.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zaps.testing.sink import _QuietServer


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class EchoApi:
    def __init__(self, *, basic: tuple[str, str] = ("api-user", "api-pass"), bearer: str = "api-token") -> None:
        self.calls: list[Call] = []
        self.basic, self.bearer = basic, bearer
        self._scripts: dict[str, deque[Answer]] = {}
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                call = Call(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                with api._lock:
                    api.calls.append(call)
                    scripted = api._scripts.get(parts.path)
                    answer = scripted.popleft() if scripted else api._answer(call)
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                self.send_response(answer.status)
                self.send_header("content-type", answer.content_type)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, path: str, *answers: Answer | int) -> None:
        """Answer the next requests to `path` with these (a bare number is a status with a JSON error body)."""
        with self._lock:
            queue = self._scripts.setdefault(path, deque())
            for answer in answers:
                queue.append(Answer(answer, b'{"error": "scripted"}') if isinstance(answer, int) else answer)

    def to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    def _answer(self, call: Call) -> Answer:
        if call.path == "/text":
            return Answer(200, b"plain words, not JSON", "text/plain; charset=utf-8")
        if call.path == "/basic":
            expected = "Basic " + base64.b64encode(":".join(self.basic).encode()).decode()
            if call.headers.get("authorization") != expected:
                return Answer(401, b'{"error": "bad credentials"}', headers={"www-authenticate": 'Basic realm="api"'})
        if call.path == "/bearer" and call.headers.get("authorization") != f"Bearer {self.bearer}":
            # Some APIs quote the credential they refused; a test checks the run record does not keep it.
            said = call.headers.get("authorization", "")
            return Answer(401, json.dumps({"error": "invalid_token", "got": said}).encode())
        if call.path not in ("/echo", "/basic", "/bearer"):
            return Answer(404, b'{"error": "no such resource"}')
        content_type = call.headers.get("content-type", "")
        account: dict[str, Any] = {
            "method": call.method,
            "query": {name: values[-1] for name, values in call.query.items()},
            "content_type": content_type,
            "body": call.body.decode("utf-8", "replace"),
        }
        if content_type.startswith("application/x-www-form-urlencoded"):
            account["form"] = {name: values[-1] for name, values in parse_qs(call.body.decode()).items()}
        if content_type.startswith("application/json"):
            account["json"] = json.loads(call.body)
        return Answer(200, json.dumps(account).encode(), headers={"x-request-id": f"req-{len(self.calls)}"})
