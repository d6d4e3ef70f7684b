"""How does `zaps dev` take its port, say where to go, and stop everything, the embedded PostgreSQL included?

- **The port first.** It is taken before PostgreSQL, the services or a worker start, so a second `make dev` stops
  at once with a hint (which port, and how to pick another) instead of starting workers and then failing.
- **Every stop signal stops gracefully.** Ctrl-C (SIGINT), a process manager's SIGTERM and a closed terminal's
  SIGHUP all end the server the same way: requests finish, workers stop, then the process exits normally, so the
  exit hook that stops the embedded PostgreSQL runs. A second signal changes nothing: the stop is under way.
- **No signal is raised again.** uvicorn, after a graceful stop, raises the signal that stopped it once more, so
  the process ends "as if killed by it". For SIGTERM that kills the process before its exit hooks run, and the
  embedded PostgreSQL stayed running. For a repeated Ctrl-C it lands in asyncio's own SIGINT handler, which
  cancels the shutdown half-way or raises KeyboardInterrupt inside the running event loop (hence the
  occasional `RuntimeError: Cannot close a running event loop`, and again a PostgreSQL left running).
  `DevServer` handles the signals itself and does not raise them again.
"""

from __future__ import annotations

import errno
import signal
import socket
import sys
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp
from uvicorn.config import STARTUP_FAILURE

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The pages the start banner offers for each service that has them, in this order.
START_PAGES = ("/status", "/docs", "/health/ready")
SIGN_IN_PAGE = "/login"
# How long open connections (a browser's keep-alive, a slow request) may hold up a stop before it goes on.
GRACE_S = 5


class PortBusy(Exception):
    """The port `zaps dev` was asked to listen on is taken; the message says what to do."""


def take_port(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, held until the server listens on it: nothing can take the port in between."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a port the previous run left in TIME_WAIT is free to use, one that is listened on is not.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortBusy(
                f"port {port} on {host} is already in use (another `make dev`, or another program). Stop that, or "
                f"start on another port: `PORT={port + 1} make dev`, or set PORT in .env."
            ) from None
        raise PortBusy(f"cannot listen on {host}:{port}: {error.strerror}. Set PORT to another port.") from None
    return sock


def start_pages(app: FastAPI) -> list[str]:
    """The paths of START_PAGES that `app` answers with GET.

    A service with a sign-in page (the console) is a web UI for people: that page is the one to open, and its
    other pages sit behind it.
    """
    # iter_route_contexts sees through included routers, which app.routes lists as one entry each.
    gets = {route.path for route in iter_route_contexts(app.routes) if "GET" in (route.methods or ())}
    if SIGN_IN_PAGE in gets:
        return [SIGN_IN_PAGE]
    return [page for page in START_PAGES if page in gets]


def banner(root: str, apps: dict[str, FastAPI]) -> str:
    """What to open, per service: its sign-in or status page where it has one, its API docs, its readiness."""
    lines = ["", "Zaps is ready. Open:"]
    for prefix in sorted(apps):
        name = prefix.rsplit("/", 1)[-1] + ":"
        for index, page in enumerate(start_pages(apps[prefix])):
            lines.append(f"  {name if index == 0 else '':14}{root}{prefix}{page}")
    lines += ["Ctrl-C stops everything (the embedded PostgreSQL too).", ""]
    return "\n".join(lines)


class DevServer(uvicorn.Server):
    """uvicorn's server, stopped gracefully by SIGINT, SIGTERM or SIGHUP, and never re-raising them."""

    def __init__(self, config: uvicorn.Config, *, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready
        self._told_already_stopping = False

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        # uvicorn's own version raises the captured signals again here; see the module docstring for why not.

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A second signal does not "force" the exit as uvicorn's would: forcing skips the services' shutdown, so
        # workers are cancelled mid-job and the process exits with PostgreSQL still running. Open connections
        # get GRACE_S instead, and the workers their own graceful stop.
        if self.should_exit and not self._told_already_stopping:
            self._told_already_stopping = True
            print("zaps dev: already stopping; running jobs finish first", file=sys.stderr, flush=True)
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self.on_ready()  # every service's start-up is done: the URLs in the banner answer now


def _stop_before_ready(signum: int, frame: FrameType | None) -> None:
    # An exception, not the default "die at once", so the exit hooks run (an embedded PostgreSQL already started
    # is stopped). 128 + signal number is what a shell reports for a process stopped by a signal.
    print(f"\nzaps dev: stopped by signal {signum} before it was ready", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def stop_cleanly_while_starting() -> None:
    """Until the server runs, a stop signal ends the start-up through the exit hooks instead of killing it."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_before_ready)


def serve(app: ASGIApp, listening: socket.socket, *, on_ready: Callable[[], None]) -> bool:
    """Serve `app` on the held socket until a stop signal; False if a service failed to start."""
    config = uvicorn.Config(app, log_config=None, lifespan="on", proxy_headers=False, timeout_graceful_shutdown=GRACE_S)
    server = DevServer(config, on_ready=on_ready)
    try:
        server.run(sockets=[listening])
    except SystemExit as stop:
        if stop.code != STARTUP_FAILURE:
            raise  # a stop signal during start-up (_stop_before_ready)
        return False  # uvicorn's way of saying a service failed to start; the log line before says which and why
    finally:
        # The exit hooks come next (the embedded PostgreSQL's clean stop); a late Ctrl-C, often delivered twice to
        # the whole process group, or a process manager's repeated SIGTERM must not cut them short.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    return server.started
