"""A fake Teams Workflows webhook on 127.0.0.1: the trigger of "Post to a channel when a webhook request is received".

It answers as the flow's HTTP trigger does (Logic Apps' request trigger): 202 Accepted with no body for a message it
takes; 401 `DirectApiInvalidAuthorizationSignature` for a wrong `sig=`, 401 `DirectApiAuthorizationRequired` for
none; 404 `WorkflowNotFound` for an unknown (deleted) workflow; 400 `WorkflowTriggerIsNotEnabled` for a flow turned
off; errors as `{"error": {"code": ..., "message": ...}}`. A script can put 5xx, 429 (with Retry-After) or a stall
first.

It also checks the message's shape, as documented for the template: `{"type": "message", "attachments": [...]}` with
each attachment's `contentType` "application/vnd.microsoft.card.adaptive" and an AdaptiveCard `content` (a version,
a `body` of elements with a `type`; TextBlock with a `text`; FactSet with `facts` of title/value strings). The real
flow answers 202 to any JSON and fails later, in its own run, where the sender cannot see it; this fake refuses a bad
shape with 400 `TriggerInputSchemaMismatch` instead, so a test catches what Teams would silently drop.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zaps.testing.sink import _QuietServer

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ELEMENTS = {
    "TextBlock",
    "FactSet",
    "Image",
    "ImageSet",
    "Container",
    "ColumnSet",
    "ActionSet",
    "RichTextBlock",
    "Table",
}


@dataclass
class Post:
    """A request the trigger received, and what it answered."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def card(self) -> Any:
        return self.json["attachments"][0]["content"]


@dataclass
class Scripted:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def shape_problems(message: Any) -> list[str]:
    """What is wrong with a message for the Workflows trigger (empty when it would be posted)."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return ['the body must be an object with "type": "message"']
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ['"attachments" must be a non-empty list']
    problems = []
    for index, attachment in enumerate(attachments):
        where = f"attachments[{index}]"
        if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_CONTENT_TYPE:
            problems.append(f'{where}.contentType must be "{CARD_CONTENT_TYPE}"')
            continue
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            problems.append(f'{where}.content must be an object with "type": "AdaptiveCard"')
            continue
        if not isinstance(content.get("version"), str):
            problems.append(f'{where}.content.version must be a string such as "1.2"')
        body = content.get("body", [])
        if not isinstance(body, list):
            problems.append(f"{where}.content.body must be a list")
            continue
        for number, element in enumerate(body):
            problems += element_problems(element, f"{where}.content.body[{number}]")
    return problems


def element_problems(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or element.get("type") not in ELEMENTS:
        return [f"{where} must be a card element with a known type"]
    if element["type"] == "TextBlock" and not isinstance(element.get("text"), str):
        return [f"{where}: a TextBlock needs a text"]
    if element["type"] == "FactSet":
        facts = element.get("facts")
        good = isinstance(facts, list) and all(
            isinstance(f, dict) and isinstance(f.get("title"), str) and isinstance(f.get("value"), str) for f in facts
        )
        if not good:
            return [f"{where}: a FactSet needs facts of string title and value"]
    return []


class TeamsWorkflowsFake:
    def __init__(self) -> None:
        self.workflow_id = secrets.token_hex(16)
        self.signature = secrets.token_urlsafe(32)
        self.enabled = True
        self.requests: list[Post] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    scripted = fake._script.popleft() if fake._script else None
                    if scripted is not None:
                        status, answer = scripted.status, {"error": {"code": "Scripted", "message": "scripted"}}
                    else:
                        status, answer = fake._answer(parts.path, query, headers, body)
                    fake.requests.append(Post(parts.path, query, headers, body, status))
                if scripted is not None and scripted.delay_s:
                    time.sleep(scripted.delay_s)
                payload = b"" if status == 202 else json.dumps(answer).encode()
                self.send_response(status)
                for name, value in (scripted.headers if scripted else {}).items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TeamsWorkflowsFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, *, signature: str | None = None, workflow_id: str | None = None) -> str:
        """The trigger's HTTP POST URL, shaped as Teams shows it today (`https://<env>.environment.api.powerplatform
        .com:443/powerautomate/automations/direct/workflows/<id>/triggers/manual/paths/invoke?api-version=1&sp=…
        &sv=1.0&sig=…`); another signature or workflow id makes a bad one."""
        return (
            f"{self.base}/powerautomate/automations/direct/workflows/{workflow_id or self.workflow_id}"
            f"/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
            f"&sig={signature or self.signature}"
        )

    @property
    def posts(self) -> list[Post]:
        """What reached the channel (the requests answered 202)."""
        return [post for post in self.requests if post.status == 202]

    def script(self, *replies: Scripted | int) -> None:
        """Answer the next requests with these (a bare number is a status); then as the trigger does."""
        with self._lock:
            self._script.extend(Scripted(r) if isinstance(r, int) else r for r in replies)

    def _answer(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        def error(status: int, code: str, text: str) -> tuple[int, Any]:
            return status, {"error": {"code": code, "message": text}}

        if path != f"/powerautomate/automations/direct/workflows/{self.workflow_id}/triggers/manual/paths/invoke":
            return error(404, "WorkflowNotFound", "The workflow could not be found.")
        if "sig" not in query:
            return error(401, "DirectApiAuthorizationRequired", "The request must be authenticated.")
        if not secrets.compare_digest(query["sig"], self.signature):
            return error(
                401, "DirectApiInvalidAuthorizationSignature", "The provided authorization signature is not valid."
            )
        if not self.enabled:
            return error(400, "WorkflowTriggerIsNotEnabled", "The workflow trigger is not enabled.")
        if not headers.get("content-type", "").startswith("application/json"):
            return error(400, "TriggerInputSchemaMismatch", "The body must be JSON.")
        try:
            problems = shape_problems(json.loads(body))
        except ValueError:
            problems = ["the body is not JSON"]
        if problems:
            return error(400, "TriggerInputSchemaMismatch", "; ".join(problems))
        return 202, None
