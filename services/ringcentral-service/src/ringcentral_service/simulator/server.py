"""Run the simulator: as its own FastAPI app, or as a real server on 127.0.0.1 in a background thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI, Request

from ringcentral_service.simulator.config import SimulatorConfig
from ringcentral_service.simulator.routes import build_router
from ringcentral_service.simulator.state import Simulator


def create_app(simulator: Simulator | None = None) -> FastAPI:
    simulator = simulator or Simulator()
    app = FastAPI(title="RingCentral simulator", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json")
    app.state.simulator = simulator

    def current(request: Request) -> Simulator:
        return simulator

    app.include_router(build_router(current))
    return app


@dataclass(frozen=True)
class RunningSimulator:
    simulator: Simulator
    base_url: str


@contextmanager
def serve_in_thread(
    config: SimulatorConfig | None = None, *, start_timeout_s: float = 10.0
) -> Iterator[RunningSimulator]:
    """A real HTTP server on a free port of 127.0.0.1, in a daemon thread, stopped on exit."""
    simulator = Simulator(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(simulator), log_config=None, access_log=False, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ringcentral-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the RingCentral simulator did not start")
        time.sleep(0.01)
    try:
        yield RunningSimulator(simulator=simulator, base_url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
