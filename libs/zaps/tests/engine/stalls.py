"""Targets that stall, for the timeout tests: one that takes each request and never answers, one that never lets a
connection be made."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


class Silent:
    """A server on 127.0.0.1 that reads every request to the end and never answers (the connection stays open until
    the test ends): what a step sees when its target hangs after taking the request."""

    def __init__(self) -> None:
        self.keys: list[str] = []  # the Idempotency-Key of each request read in full
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed at the end of the test
            with self._lock:
                self._open.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line)
            lowered = {name.lower(): value for name, value in headers.items()}
            length = int(lowered.get("content-length", "0"))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
        except OSError:
            return
        with self._lock:
            self.keys.append(lowered.get("idempotency-key", ""))
        # ... and no answer, ever.

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.close()
        with self._lock:
            for conn in self._open:
                conn.close()


class Unconnectable:
    """A port on 127.0.0.1 where a connection is never made: a listener whose backlog is full and that never
    accepts, so the kernel drops each new SYN and the client waits, as for a host that is down."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0), backlog=0)
        port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._fillers = []
        for _ in range(4):  # more than the backlog holds
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):  # a non-blocking connect is under way
                filler.connect(("127.0.0.1", port))
            self._fillers.append(filler)

    def __enter__(self) -> Unconnectable:
        return self

    def __exit__(self, *exc: Any) -> None:
        for filler in self._fillers:
            filler.close()
        self._server.close()
