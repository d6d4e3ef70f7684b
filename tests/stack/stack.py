"""One running Compose project of the stack test: its commands, ports, containers, and waiting for things."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from engine import ROOT, Engine

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
WORKDIR = ROOT / ".zaps" / "stack"  # the private engine's data, the droplet-like folder (git-ignored)
SERVICES = sorted(path.name for path in (ROOT / "services").iterdir() if (path / "pyproject.toml").exists())
# Figures measured during the run, printed at its end by conftest (docs/performance.md quotes them). Kept here,
# not in conftest: pytest imports conftest under another module name than the tests' `import conftest` would.
FIGURES: dict[str, str] = {}


def figure(name: str, value: str) -> None:
    FIGURES[name] = value


@dataclass
class Stack:
    engine: Engine
    project: str
    directory: Path  # the folder holding the compose files and .env (the checkout, or a droplet-like copy)
    files: list[str]
    env: dict[str, str] = field(default_factory=dict)  # written to <directory>/<project>.env
    shell: dict[str, str] = field(default_factory=dict)  # set in compose's environment (deploy.sh's IMAGE_TAG)

    @property
    def env_file(self) -> Path:
        return self.directory / f".{self.project}.env"

    def write_env(self) -> None:
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in self.env.items()))

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        files = [arg for name in self.files for arg in ("-f", name)]
        result = self.engine.run(
            "compose",
            "-p",
            self.project,
            "--env-file",
            str(self.env_file),
            *files,
            *args,
            cwd=self.directory,
            timeout=timeout,
            check=check,
            env=self.shell,
        )
        # Compose 2.40 exits 0 after some errors (a variable it cannot interpolate): look for them too.
        errors = [line for line in result.stderr.splitlines() if line.startswith("error ")]
        if check and errors:
            raise RuntimeError(f"docker compose {' '.join(args)}: {errors}")
        return result

    def up(self, *args: str, timeout: float = 240) -> None:
        """`compose up -d --wait` with images already here, then a check that every service is running and healthy:
        Compose 2.40 exits 0 on some errors (a variable it could not interpolate), so its exit code is not enough."""
        result = self.compose(
            "up", "-d", "--pull", "never", *args, "--wait", "--wait-timeout", str(int(timeout)), timeout=timeout + 120
        )
        services = set(self.compose("config", "--services").stdout.split())
        states = [json.loads(line) for line in self.compose("ps", "--format", "json").stdout.splitlines() if line]
        running = {s["Service"] for s in states if s["State"] == "running" and s.get("Health") in ("", "healthy")}
        if not services or services - running:
            raise RuntimeError(f"not running and healthy: {sorted(services - running)}\n{result.stderr[-3000:]}")

    def host_port(self, service: str, port: int) -> int:
        out = self.compose("port", service, str(port)).stdout.strip()
        return int(out.rsplit(":", 1)[1])

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()

    def inspect(self, container: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.engine.run("inspect", container).stdout)
        return found[0]

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", service, check=False).stdout

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False, timeout=300)


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float, every: float = 1.0) -> T:
    """Call `probe` until it returns something other than None (exceptions count as not yet), or fail naming
    `what` and the last error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if value is not None:
                return value
        except Exception as error:  # not yet: the last error goes into the failure message
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
        time.sleep(every)


def signed_order(secret: str, order: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A body and headers signed the way docs/automations.md tells a sender to (HMAC-SHA256 of `<ts>.<body>`)."""
    body = json.dumps(order).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-Zaps-Timestamp": timestamp,
        "X-Zaps-Signature": f"v1={digest}",
    }


def sink_records(client: httpx.Client, sink_url: str, kind: str = "requests") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = client.get(f"{sink_url}/_{kind}").json()
    return records
