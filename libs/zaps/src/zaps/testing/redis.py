"""The tests' Redis: REDIS_URL, else 127.0.0.1:6379 if it answers, else none (the in-memory stand-in)."""

from __future__ import annotations

import os
import socket

LOCAL_REDIS = "redis://127.0.0.1:6379/15"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def find_redis() -> tuple[str | None, str]:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], "REDIS_URL"
    if _answers("127.0.0.1", 6379):
        return LOCAL_REDIS, "real Redis on 127.0.0.1:6379 (db 15)"
    return None, "fakeredis (no Redis answered)"
