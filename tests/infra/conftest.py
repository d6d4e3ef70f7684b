"""Fixtures for the stack checks: the rendered compose models, and a scratch copy of the stack to break."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The helper modules beside this file (stackcheck, traefik_live) are imported by name.
sys.path.insert(0, str(Path(__file__).parent))

from stackcheck import ROOT, ComposeError, ToolMissing, render, tool

# What a copy of the stack needs to render and lint like the real one.
STACK_FILES = [
    "docker-compose.yml",
    "docker-compose.override.yml",
    "docker-compose.prod.yml",
    ".env.example",
    ".yamllint.yml",
    "Dockerfile",
    "infra",
    "grafana",
    "scripts",
    ".github",
]


@pytest.fixture(scope="session")
def models() -> dict[str, dict[str, Any]]:
    """The compose model of each environment: base, dev (base + override), prod (base + prod)."""
    try:
        return {name: render(ROOT, name) for name in ("base", "dev", "prod")}
    except ToolMissing as missing:
        pytest.fail(str(missing))
    except ComposeError as error:
        pytest.fail(f"docker compose config failed:\n{error}")


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """A copy of the stack's files to break on purpose."""
    for name in STACK_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy2(source, tmp_path / name)
    for service in (ROOT / "services").iterdir():
        (tmp_path / "services" / service.name).mkdir(parents=True)
    return tmp_path


@pytest.fixture
def edit() -> Callable[[Path, str, str], None]:
    """Replace text in a file, failing if the text is not there (so a test cannot break nothing)."""

    def replace(path: Path, old: str, new: str) -> None:
        text = path.read_text()
        assert old in text, f"{old!r} not found in {path}"
        path.write_text(text.replace(old, new, 1))

    return replace


@pytest.fixture(scope="session")
def bin_path() -> Callable[[str], str]:
    def find(name: str) -> str:
        try:
            return tool(name)
        except ToolMissing as missing:
            pytest.fail(str(missing))

    return find
