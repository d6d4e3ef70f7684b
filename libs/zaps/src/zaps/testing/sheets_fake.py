"""A real HTTP server on 127.0.0.1 that plays Google: the OAuth token endpoint for service accounts and the Sheets
API v4 `spreadsheets.values` calls Zaps makes, with the documented requests, answers and error bodies.

- POST /token takes the JWT-bearer grant (grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, assertion=JWT):
  the assertion's RS256 signature is checked with the service account's public key (the test made the key pair),
  and so are `iss`, `aud` (Google's token URL), `scope`, `iat` and `exp` (at most an hour after). It answers
  {"access_token", "expires_in", "token_type": "Bearer"}, or 400 {"error": "invalid_grant", "error_description"}.
- GET /v4/spreadsheets/{id} (spreadsheets.get) answers the spreadsheet's title and its tabs (`sheets[].properties`).
- /v4/spreadsheets/{id}/values… takes only a bearer token it issued (else 401 UNAUTHENTICATED), answers 404
  NOT_FOUND for an unknown spreadsheet, 403 PERMISSION_DENIED when it is not shared with the token's account, and
  400 INVALID_ARGUMENT "Unable to parse range" for a tab that does not exist.
- Sheets live in memory: `spreadsheets[id].tabs[title]` is a list of rows, each a list of cells.
- `fail(503, 503)` answers the next API calls with those statuses; `stall_after_write(2.0)` applies the next write
  and then keeps the answer back for that long, so a client's timeout fires after the write happened.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from zaps.testing.sink import _QuietServer

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
# Google's documented `aud` of a service account's grant: always this, whichever URL the grant is posted to.
AUDIENCE = "https://oauth2.googleapis.com/token"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
STATUS_NAMES |= {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


@dataclass
class ServiceAccount:
    """A key pair made for a test, and the JSON key file Google would hand out for it."""

    client_email: str
    private_key_pem: str
    public_key_pem: str
    token_uri: str

    @classmethod
    def make(
        cls, token_uri: str, client_email: str = "zaps-sheets@zaps-test.iam.gserviceaccount.com"
    ) -> ServiceAccount:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        return cls(client_email, private, public, token_uri)

    def key_json(self) -> str:
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "zaps-test",
                "private_key_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4",
                "private_key": self.private_key_pem,
                "client_email": self.client_email,
                "client_id": "100000000000000000001",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": self.token_uri,
            }
        )


@dataclass
class Spreadsheet:
    tabs: dict[str, list[list[Any]]]
    shared_with: set[str] = field(default_factory=set)
    title: str = "Untitled spreadsheet"


@dataclass
class Call:
    method: str
    path: str  # unquoted, without the query
    query: dict[str, list[str]]
    body: Any


def _shown(value: Any) -> Any:
    """A cell as FORMATTED_VALUE renders it: text, numbers without a needless .0, TRUE/FALSE."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float) and abs(value) >= 1e11:
        return f"{value:.5E}"  # the Automatic format shows a long number in scientific notation
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _entered(value: Any, how: str) -> Any:
    """USER_ENTERED reads text as if typed into the sheet: a leading ' keeps the rest as text, and text that looks
    like a number becomes one."""
    if how == "USER_ENTERED" and isinstance(value, str) and value.startswith("'"):
        return value[1:]
    if how == "USER_ENTERED" and isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value) if "." in value else int(value)
    return value


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _letters(index: int) -> str:
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Range:
    tab: str
    first_row: int  # 1-based
    last_row: int | None
    first_col: int  # 0-based
    last_col: int | None


def parse_range(text: str, tabs: dict[str, list[list[Any]]]) -> Range:
    """A1 notation as Zaps sends it: 'Tab'!A1:D1, 'Tab'!C:C, 'Tab'!1:1, or a bare tab name."""
    tab, _, cells = text.partition("!")
    if tab.startswith("'") and tab.endswith("'"):
        tab = tab[1:-1].replace("''", "'")
    if tab not in tabs:
        raise ApiError(400, f"Unable to parse range: {text}")
    if not cells:
        return Range(tab, 1, None, 0, None)
    match = re.fullmatch(r"([A-Z]*)(\d*)(?::([A-Z]*)(\d*))?", cells)
    if not match:
        raise ApiError(400, f"Unable to parse range: {text}")
    c1, r1, c2, r2 = match.groups()
    if match.group(3) is None:  # a single cell: A1
        c2, r2 = c1, r1
    return Range(
        tab,
        int(r1) if r1 else 1,
        int(r2) if r2 else None,
        _column_index(c1) if c1 else 0,
        _column_index(c2) if c2 else None,
    )


class FakeGoogle:
    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}  # client_email -> public key PEM
        self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (client_email, expires at)
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.calls: list[Call] = []
        self.token_requests = 0
        self.token_lifetime_s = 3599
        self.latency_s = 0.0  # every API call waits this long first (to let two clients' calls interleave)
        self._failures: deque[tuple[int, dict[str, str]]] = deque()
        self._write_failures: deque[tuple[int, dict[str, str]]] = deque()
        self._stalls: deque[float] = deque()
        self._lock = threading.RLock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.token_uri = self.url + "/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGoogle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # What a test sets up and looks at.

    def service_account(self, client_email: str = "zaps-sheets@zaps-test.iam.gserviceaccount.com") -> ServiceAccount:
        account = ServiceAccount.make(self.token_uri, client_email)
        self.accounts[client_email] = account.public_key_pem
        return account

    def spreadsheet(
        self,
        spreadsheet_id: str,
        tabs: dict[str, list[list[Any]]],
        *,
        shared_with: list[str],
        title: str = "Untitled spreadsheet",
    ) -> None:
        with self._lock:
            self.spreadsheets[spreadsheet_id] = Spreadsheet(tabs, set(shared_with), title)

    def rows(self, spreadsheet_id: str, tab: str) -> list[list[Any]]:
        with self._lock:
            return [list(row) for row in self.spreadsheets[spreadsheet_id].tabs[tab]]

    def fail(self, *statuses: int, retry_after: str | None = None, writes_only: bool = False) -> None:
        """Answer the next API calls (or the next writes) with these statuses, before looking at them."""
        with self._lock:
            headers = {"retry-after": retry_after} if retry_after else {}
            queue = self._write_failures if writes_only else self._failures
            queue.extend((status, headers) for status in statuses)

    def stall_after_write(self, seconds: float) -> None:
        with self._lock:
            self._stalls.append(seconds)

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("POST", "PUT")]

    # The server.

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length)
        try:
            if parts.path == "/token" and method == "POST":
                status, answer = 200, self._token(raw.decode())
            elif parts.path.startswith("/v4/spreadsheets/"):
                status, answer = self._api(request, method, unquote(parts.path), parse_qs(parts.query), raw)
            else:
                status, answer = 404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}}
        except ApiError as error:
            status = error.code
            if parts.path == "/token":
                answer = {"error": "invalid_grant", "error_description": error.message}
            else:
                answer = {"error": {"code": status, "message": error.message, "status": STATUS_NAMES[status]}}
        headers: dict[str, str] = {}
        if isinstance(answer, tuple):  # a scripted failure brings its own headers
            answer, headers = answer
        body = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("content-type", "application/json; charset=UTF-8")
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _token(self, form_text: str) -> dict[str, Any]:
        form = {name: values[0] for name, values in parse_qs(form_text).items()}
        with self._lock:
            self.token_requests += 1
        if form.get("grant_type") != JWT_GRANT:
            raise ApiError(400, "Invalid grant_type")
        assertion = form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, verify=False)  # type: ignore[no-untyped-call]
        except ValueError:
            raise ApiError(400, "Invalid JWT: malformed") from None
        public = self.accounts.get(str(unverified.get("iss")))
        if public is None:
            raise ApiError(400, "Invalid JWT Signature.")  # Google's answer for an unknown or deleted key
        try:
            claims = jwt.decode(assertion, certs=public, audience=AUDIENCE)  # type: ignore[no-untyped-call]
        except ValueError as error:
            # A bad signature, a wrong audience or an expired assertion.
            raise ApiError(400, "Invalid JWT Signature." if "signature" in str(error).lower() else str(error)) from None
        if SCOPE not in str(claims.get("scope", "")).split():
            raise ApiError(400, "Invalid OAuth scope or ID token audience provided.")
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            raise ApiError(400, "Invalid JWT: Token must be a short-lived token (60 minutes)")
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = (str(claims["iss"]), time.time() + self.token_lifetime_s)
        return {"access_token": token, "expires_in": self.token_lifetime_s, "token_type": "Bearer"}

    def _api(
        self, request: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any]:
        body = json.loads(raw) if raw else None
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            self.calls.append(Call(method, path, query, body))
            failure = self._failures.popleft() if self._failures else None
            if failure is None and method in ("POST", "PUT") and self._write_failures:
                failure = self._write_failures.popleft()
        if failure is not None:
            status, headers = failure
            message = "The service is currently unavailable." if status >= 500 else "Quota exceeded."
            return status, ({"error": {"code": status, "message": message, "status": STATUS_NAMES[status]}}, headers)
        authorization = request.headers.get("authorization", "")
        with self._lock:
            held = self.tokens.get(authorization.removeprefix("Bearer "))
        if not authorization.startswith("Bearer ") or held is None or held[1] < time.time():
            raise ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential.",
            )
        whole = re.fullmatch(r"/v4/spreadsheets/([^/]+)", path)  # spreadsheets.get: the metadata
        match = whole or re.fullmatch(r"/v4/spreadsheets/([^/]+)/values(?::batchGet|/(.+))", path)
        if not match:
            raise ApiError(404, "Requested entity was not found.")
        spreadsheet_id, target = match.group(1), None if whole else match.group(2)
        with self._lock:
            sheet = self.spreadsheets.get(spreadsheet_id)
            if sheet is None:
                raise ApiError(404, "Requested entity was not found.")
            if held[0] not in sheet.shared_with:
                raise ApiError(403, "The caller does not have permission")
            if whole and method == "GET":
                return 200, self._metadata(spreadsheet_id, sheet)
            if target is None and method == "GET":
                ranges = [self._read(sheet, text) for text in query.get("ranges", [])]
                return 200, {"spreadsheetId": spreadsheet_id, "valueRanges": ranges}
            if target is not None and method == "GET":
                return 200, self._read(sheet, target)
            how = (query.get("valueInputOption") or [""])[0]
            if how not in ("RAW", "USER_ENTERED"):
                raise ApiError(400, "'valueInputOption' is required but not specified")
            if target is not None and target.endswith(":append") and method == "POST":
                answer = self._append(spreadsheet_id, sheet, target.removesuffix(":append"), body, how)
            elif target is not None and method == "PUT":
                answer = self._update(spreadsheet_id, sheet, target, body, how)
            else:
                raise ApiError(404, "Requested entity was not found.")
            stall = self._stalls.popleft() if self._stalls else 0.0
        if stall:
            time.sleep(stall)  # the write is applied; the answer comes too late for the client
        return 200, answer

    def _metadata(self, spreadsheet_id: str, sheet: Spreadsheet) -> dict[str, Any]:
        """The Spreadsheet resource, as far as Zaps reads it (the `fields` mask is not applied: a client that asks
        for less must still find what it asked for, and it does)."""
        tabs = [
            {
                "properties": {
                    "sheetId": index,
                    "title": title,
                    "index": index,
                    "sheetType": "GRID",
                    "gridProperties": {"rowCount": 1000, "columnCount": 26},
                }
            }
            for index, title in enumerate(sheet.tabs)
        ]
        return {
            "spreadsheetId": spreadsheet_id,
            "properties": {"title": sheet.title, "locale": "en_US", "timeZone": "Etc/GMT"},
            "sheets": tabs,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit",
        }

    def _read(self, sheet: Spreadsheet, text: str) -> dict[str, Any]:
        where = parse_range(text, sheet.tabs)
        rows = sheet.tabs[where.tab]
        last = len(rows) if where.last_row is None else min(where.last_row, len(rows))
        values = []
        for row in rows[where.first_row - 1 : last]:
            end = len(row) if where.last_col is None else where.last_col + 1
            values.append([_shown(cell) for cell in row[where.first_col : end]])
        for row in values:  # Google leaves out trailing empty cells, then trailing empty rows
            while row and row[-1] == "":
                row.pop()
        while values and not values[-1]:
            values.pop()
        answer: dict[str, Any] = {"range": text, "majorDimension": "ROWS"}
        if values:
            answer["values"] = values
        return answer

    def _append(self, spreadsheet_id: str, sheet: Spreadsheet, text: str, body: Any, how: str) -> dict[str, Any]:
        where = parse_range(text, sheet.tabs)
        rows = sheet.tabs[where.tab]
        used = len(rows)
        while used and not any(cell not in (None, "") for cell in rows[used - 1]):
            used -= 1
        new = [[_entered(cell, how) for cell in row] for row in body["values"]]
        rows[used:used] = new
        width = max((len(row) for row in new), default=1)
        first = used + 1
        updated = f"{where.tab}!A{first}:{_letters(width - 1)}{first + len(new) - 1}"
        table = f"{where.tab}!A1:{_letters(width - 1)}{used}" if used else ""
        updates = {
            "spreadsheetId": spreadsheet_id,
            "updatedRange": updated,
            "updatedRows": len(new),
            "updatedColumns": width,
            "updatedCells": sum(len(row) for row in new),
        }
        return {"spreadsheetId": spreadsheet_id, "tableRange": table, "updates": updates}

    def _update(self, spreadsheet_id: str, sheet: Spreadsheet, text: str, body: Any, how: str) -> dict[str, Any]:
        where = parse_range(text, sheet.tabs)
        rows = sheet.tabs[where.tab]
        cells = 0
        for offset, values in enumerate(body["values"]):
            number = where.first_row + offset
            while len(rows) < number:
                rows.append([])
            row = rows[number - 1]
            for column, value in enumerate(values, start=where.first_col):
                if value is None:  # null input cells are skipped: the cell keeps its value
                    continue
                while len(row) <= column:
                    row.append("")
                row[column] = _entered(value, how)
                cells += 1
        width = max((len(v) for v in body["values"]), default=0)
        return {
            "spreadsheetId": spreadsheet_id,
            "updatedRange": text,
            "updatedRows": len(body["values"]),
            "updatedColumns": width,
            "updatedCells": cells,
        }
