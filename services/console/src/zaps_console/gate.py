"""May this request reach the console? The one gate every request passes, whatever route it is for.

Deny by default: without a valid session (a signed cookie whose server-side record is still open) only the sign-in
page, its stylesheet and the health routes answer. A browser asking for a page is sent to the sign-in page (and back
afterwards); anything else gets 401 JSON. Every POST (and any other unsafe method) must carry the CSRF token of its
session, or of the sign-in form, in the form field `csrf_token` or the `X-CSRF-Token` header; without it, 403.
Routes added later are covered without a line of their own, and so are FastAPI's /docs and /openapi.json.

The zaps admin JSON API (/admin/…) keeps its own guard, the ADMIN_TOKEN bearer token: it is not a browser
surface, so neither the session nor CSRF applies to it.

Every answer also gets the headers that keep a console page from being framed, sniffed or cached.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from zaps.logging import request_id_var

from zaps_console import repository
from zaps_console.sessions import CSRF_FIELD, CSRF_HEADER, LOGIN_COOKIE, SESSION_COOKIE, Session
from zaps_console.web import FORM_KEY, SESSION_KEY, Console

PUBLIC_PATHS = frozenset({"/login", "/health", "/health/ready", "/static/console.css"})
SESSIONLESS_PATHS = PUBLIC_PATHS - {"/login"}  # answered alike with or without a session: no database look-up
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 64 * 1024  # the console's forms are a handful of short fields

# Only the console's own files run or style its pages; no page of another site may frame it.
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# The API docs pages (Swagger UI, ReDoc, served from the console's own files) start with an inline script and
# style themselves with inline styles; under the console's policy they would stay blank. They show only the
# console's own OpenAPI schema, never a payload, so those two pages alone allow inline code (and ReDoc's search
# worker, which it starts from a blob: URL).
API_DOCS_PATHS = frozenset({"/docs", "/redoc"})
API_DOCS_POLICY = (
    CONTENT_SECURITY_POLICY.replace(b"script-src 'self'", b"script-src 'self' 'unsafe-inline'").replace(
        b"style-src 'self'", b"style-src 'self' 'unsafe-inline'"
    )
    + b"; worker-src 'self' blob:"
)
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def route_path(scope: Scope) -> str:
    """The path inside the console: without the prefix, whether Traefik stripped it or not."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return path or "/"


def wants_html(request: Request) -> bool:
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


def _error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "request_id": request_id_var.get()}}, status)


class SessionGate:
    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path == "/admin" or path.startswith("/admin/"):
            await self.app(scope, receive, send)
            return
        policy = API_DOCS_POLICY if path in API_DOCS_PATHS else CONTENT_SECURITY_POLICY
        send = self._with_security_headers(send, cache=path.startswith("/static/"), policy=policy)
        request = Request(scope)
        session = self.console.signer.read(request.cookies.get(SESSION_COOKIE))
        if session is not None and path not in SESSIONLESS_PATHS:
            try:
                open_ = await self._is_open(scope, session)
            except psycopg.Error:
                await _error("unavailable", "the console's database does not answer", 503)(scope, receive, send)
                return
            session = session if open_ else None  # signed out (here or everywhere): the cookie no longer counts
        scope[SESSION_KEY] = session
        if session is None and path not in PUBLIC_PATHS:
            await self._refuse_anonymous(request)(scope, receive, send)
            return
        if request.method not in SAFE_METHODS:
            body = await self._read_body(receive)
            if body is None:
                await _error("payload_too_large", "the form is too large", 413)(scope, receive, send)
                return
            form = self._parse_form(request, body)
            offered = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
            if path == "/login":
                valid = self.console.signer.login_token_matches(request.cookies.get(LOGIN_COOKIE), offered)
            else:
                valid = session is not None and self.console.signer.csrf_matches(session, offered)
            if not valid:
                await self._refuse_forgery(request)(scope, receive, send)
                return
            scope[FORM_KEY] = form
            receive = self._replay(body, receive)
        await self.app(scope, receive, send)

    @staticmethod
    async def _is_open(scope: Scope, session: Session) -> bool:
        database = scope["app"].state.runtime.database
        async with database.connection() as conn:
            return await repository.session_is_open(conn, session.record_id)

    def _refuse_anonymous(self, request: Request) -> Response:
        if wants_html(request):
            root = request.scope.get("root_path", "").rstrip("/")
            target = root + route_path(request.scope) + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{root}/login?next={quote(target, safe='')}", status_code=303)
        return _error("unauthorized", "sign in to the console first (at its /login page)", 401)

    def _refuse_forgery(self, request: Request) -> Response:
        message = "this form has no valid CSRF token: reload the page and send it again"
        if "text/html" in request.headers.get("accept", ""):
            return self.console.render(
                request, "error.html", {"title": "Form refused", "message": message}, status_code=403
            )
        return _error("csrf_failed", message, 403)

    @staticmethod
    async def _read_body(receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _parse_form(request: Request, body: bytes) -> dict[str, str]:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return {}
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            return {}
        return dict(pairs)  # a repeated field keeps its last value; the console never repeats one

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        """The app reads the body the gate already consumed."""
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    @staticmethod
    def _with_security_headers(send: Send, *, cache: bool, policy: bytes) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = [
                    (name, value) for name, value in message.get("headers", []) if name.lower() != b"cache-control"
                ]
                headers += [(b"content-security-policy", policy), *SECURITY_HEADERS]
                # Pages show payloads and errors: no shared or back-button cache keeps them. Static files may be
                # cached by the browser that signed in, never by a proxy.
                headers.append((b"cache-control", b"private, max-age=300" if cache else b"no-store"))
                message["headers"] = headers
            await send(message)

        return sending
