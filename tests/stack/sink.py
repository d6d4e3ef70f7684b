"""What the stack's automations send to, inside the stack test: it records every HTTP request (webhooks, Slack)
on :8080 and every e-mail on :2525, and hands them back at GET /_requests and GET /_mails.

It runs in a container of the image the services are built from, so it uses the standard library only.
"""

from __future__ import annotations

import asyncio
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock, Thread
from typing import Any

_lock = Lock()
_requests: list[dict[str, Any]] = []
_mails: list[dict[str, Any]] = []


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with _lock:
            records = {"/_requests": _requests, "/_mails": _mails}.get(self.path)
            body = json.dumps(records).encode() if records is not None else b'{"error": "not found"}'
        self._answer(200 if records is not None else 404, body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        with _lock:
            _requests.append(
                {"path": self.path, "headers": dict(self.headers.items()), "body": raw.decode("utf-8", "replace")}
            )
        self._answer(200, b'{"ok": true}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def _smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Just enough SMTP (RFC 5321) for a client that sends mail without STARTTLS or AUTH."""

    def say(line: str) -> None:
        writer.write(line.encode() + b"\r\n")

    say("220 sink ESMTP")
    envelope: dict[str, Any] = {"from": None, "to": [], "data": ""}
    while line := await reader.readline():
        command = line.decode("utf-8", "replace").strip()
        verb = command[:4].upper()
        if verb in ("EHLO", "HELO"):
            say("250 sink")
        elif verb == "MAIL":
            envelope = {"from": command[10:].strip(), "to": [], "data": ""}
            say("250 OK")
        elif verb == "RCPT":
            envelope["to"].append(command[8:].strip())
            say("250 OK")
        elif verb == "DATA":
            say("354 End data with <CR><LF>.<CR><LF>")
            lines = []
            while (data := await reader.readline()) not in (b".\r\n", b".\n", b""):
                lines.append(data.decode("utf-8", "replace"))
            envelope["data"] = "".join(lines)
            with _lock:
                _mails.append(envelope)
            say("250 OK: queued")
        elif verb == "QUIT":
            say("221 Bye")
            await writer.drain()
            break
        else:
            say("250 OK")
        await writer.drain()
    writer.close()


async def _serve_smtp() -> None:
    server = await asyncio.start_server(_smtp, "0.0.0.0", 2525)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    Thread(target=lambda: asyncio.run(_serve_smtp()), daemon=True).start()
    ThreadingHTTPServer(("0.0.0.0", 8080), _Handler).serve_forever()
