"""Run a service in a test: in-process (lifespan + httpx) or as a real server process on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
from fastapi import FastAPI

READY_WITHIN_S = 60.0  # how long `server_process` waits for a started service to answer its ready probe


@asynccontextmanager
async def running(app: FastAPI, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (migrations, pool, worker) and give an httpx client that talks to it in-process."""
    async with app.router.lifespan_context(app):
        # Unexpected errors come back as the app's 500 answer, as a real client would see them.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
            yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server_process(
    service: str,
    env: dict[str, str],
    *,
    port: int | None = None,
    ready_path: str = "/health",
    log_path: Path | None = None,
) -> Iterator[dict[str, Any]]:
    """`zaps serve SERVICE` as a real process; waits until `prefix + ready_path` answers, stops it afterwards.

    It runs in an empty folder, so a developer's `.env` (real webhook URLs, real credentials) never reaches a test.
    Its output goes to a pipe, or to `log_path` (appended) for a process that may log more than a pipe holds.
    """
    port = port or free_port()
    full_env = {**os.environ, **env}
    workdir = tempfile.TemporaryDirectory(prefix="zaps-test-server-")
    output: IO[bytes] | int = log_path.open("ab") if log_path else subprocess.PIPE
    process = subprocess.Popen(
        [sys.executable, "-m", "zaps.cli", "serve", service, "--port", str(port)],
        env=full_env,
        cwd=workdir.name,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    if not isinstance(output, int):
        output.close()  # the child holds its own copy
    base = f"http://127.0.0.1:{port}"
    prefix = env.get("PATH_PREFIX", f"/api/{service}")
    # Under load a cold start (imports without bytecode, migrations) has been seen near 30 s: hence twice that.
    deadline = time.monotonic() + READY_WITHIN_S
    try:
        while True:
            if process.poll() is not None:
                said = process.stdout.read().decode() if process.stdout else log_path.read_text() if log_path else ""
                raise RuntimeError(f"server exited with {process.returncode}:\n{said[-4000:]}")
            try:
                if httpx.get(base + prefix + ready_path, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not become ready in {READY_WITHIN_S:.0f} s")
            time.sleep(0.1)
        yield {"base_url": base, "prefix": prefix, "process": process, "port": port}
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        workdir.cleanup()
