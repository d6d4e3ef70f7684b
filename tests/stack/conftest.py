"""The stack test's shared parts: one engine and one set of images for the whole run, and the figures it measured.

`make stack-test` (and `make test`) run it. As root it starts a private Docker engine (installing Debian's docker.io
if needed) and removes it afterwards; otherwise it uses the engine that answers, or skips and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helper modules beside this file (engine, standins, stack) are imported by name.
sys.path.insert(0, str(Path(__file__).parent))

import standins
from engine import ROOT, Engine, EngineUnavailable, engine
from stack import FIGURES, SERVICES, WORKDIR, figure
from standins import Images


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("stack test figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def docker() -> Iterator[Engine]:
    started = time.monotonic()
    try:
        with engine(WORKDIR, keep_data=os.environ.get("ZAPS_STACK_KEEP") == "1") as found:
            figure("engine ready", f"{time.monotonic() - started:.1f} s ({'private' if found.private else 'existing'})")
            yield found
    except EngineUnavailable as why:
        pytest.skip(f"stack test skipped: {why}")
    leftovers = [item for item in found.leftovers if "(removed)" not in item and "(unmounted)" not in item]
    figure("left behind after teardown", ", ".join(found.leftovers) or "nothing")
    assert not leftovers, f"the engine left things behind: {leftovers}"


@pytest.fixture(scope="session")
def images(docker: Engine) -> Images:
    """Every image the stack names (pulled, or a stand-in made here), and each service's image built from the one
    Dockerfile as `ghcr.io/local/zaps-<service>:dev`, the name docker-compose.yml gives it."""
    started = time.monotonic()
    base_images = docker.run("compose", "-f", "docker-compose.yml", "--profile", "*", "config", "--images").stdout
    wanted = standins.dockerfile_images() + sorted(
        {image for image in base_images.split() if not image.startswith("ghcr.io/local/zaps-")}
    )
    made = standins.ensure(docker, wanted, WORKDIR)
    figure("base images", ", ".join(f"{m.name} ({m.how})" for m in made) + f" in {time.monotonic() - started:.0f} s")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    for service in SERVICES:
        started = time.monotonic()
        docker.run(
            "build",
            "--network=host",  # the builder reaches PyPI from the host's network (no NAT on a private engine)
            "--build-arg",
            f"SERVICE={service}",
            "--build-arg",
            f"ZAPS_CODE_VERSION={commit or 'unknown'}",
            "-t",
            f"ghcr.io/local/zaps-{service}:dev",
            ".",
            timeout=1200,
        )
        size = docker.run("image", "inspect", "-f", "{{.Size}}", f"ghcr.io/local/zaps-{service}:dev").stdout
        figure(f"image {service}", f"{int(size) / 1e6:.0f} MB, built in {time.monotonic() - started:.0f} s")
    python = next(image for image in standins.dockerfile_images() if image.startswith("python:"))
    return Images(python=python, commit=commit, made=made)
