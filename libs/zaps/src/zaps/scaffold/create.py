"""`zaps new service <name>`: check the name is free, then write the service and every edit the stack needs.

Everything is worked out in memory first (`plan`), so a name that is taken or a file that cannot be edited stops
the command before anything is written. Then the files are written and `uv lock` adds the package to uv.lock.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from zaps.scaffold import render, stack_edits
from zaps.scaffold.names import ScaffoldError, ServiceNames, parse_name

# What tests/infra/test_compose.py allows the production limits to add up to (with 512 MiB for the system, under
# three quarters of the 4 GB droplet): past it, `make test` asks for a decision (docs/deploy.md, Memory budget).
MEMORY_BUDGET_MIB = 4096 * 3 // 4 - 512

# Parts of the stack that find a new service by themselves, said once so that nobody goes looking.
FOUND_BY_THEMSELVES = [
    "mypy: checks every services/*/src (pyproject.toml [tool.mypy] files)",
    "the deploy workflow: builds an image for every folder under services/ (.github/workflows/deploy.yml)",
    "the stack test: builds an image of every folder under services/ (tests/stack/stack.py)",
    "zaps dev / zaps serve: find the service by its `zaps.services` entry point",
]


@dataclass(frozen=True)
class Change:
    path: Path
    text: str
    summary: str


def find_root(start: Path) -> Path:
    """The workspace root: the nearest folder at or above `start` whose pyproject.toml declares the uv workspace."""
    for folder in [start, *start.parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.uv.workspace]" in pyproject.read_text():
            return folder
    raise ScaffoldError(f"no Zaps repository here: no pyproject.toml with [tool.uv.workspace] at or above {start}")


def _entry_points(root: Path) -> dict[str, str]:
    """Service name → folder, from each service's `zaps.services` entry point."""
    found = {}
    for pyproject in sorted(root.glob("services/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        for name in project.get("entry-points", {}).get("zaps.services", {}):
            found[name] = pyproject.parent.name
    return found


def taken(root: Path, names: ServiceNames) -> list[str]:
    """Why the name cannot be used: each place that already uses it."""
    reasons = []
    if (root / "services" / names.folder).exists():
        reasons.append(f"services/{names.folder} already exists")
    if names.short in (used := _entry_points(root)):
        reasons.append(f"the service name {names.short!r} is taken by services/{used[names.short]}")
    compose = (root / "docker-compose.yml").read_text()
    if re.search(rf"^  {re.escape(names.folder)}:\s*$", compose, flags=re.MULTILINE):
        reasons.append(f"docker-compose.yml already has a service {names.folder}")
    if f"Path(`{names.path_prefix}`)" in compose:
        reasons.append(f"docker-compose.yml already routes {names.path_prefix}")
    profiles = {name.strip() for group in re.findall(r"profiles: \[([^\]]*)\]", compose) for name in group.split(",")}
    if names.short in profiles:
        reasons.append(f"docker-compose.yml already has a profile {names.short!r} (it would start with that one)")
    env_example = (root / ".env.example").read_text()
    for variable in (f"{names.env_prefix}_WEBHOOK_SECRET", f"{names.env_prefix}_FORWARD_URL"):
        if re.search(rf"^#?\s?{variable}=", env_example, flags=re.MULTILINE):
            reasons.append(f"{variable} is already a variable in .env.example (every service reads the same .env)")
    return reasons


# The repository's own files a new service changes (besides uv.lock, which `uv lock` writes).
_EDITED = [
    "pyproject.toml",
    "docker-compose.yml",
    "docker-compose.prod.yml",
    "docker-compose.override.yml",
    "docs/deploy.md",
    ".env.example",
]


def plan(root: Path, names: ServiceNames) -> list[Change]:
    """Every file to write, with its whole new text; raises ScaffoldError before anything is written."""
    reasons = taken(root, names)
    if reasons:
        raise ScaffoldError(f"cannot make {names.folder}: " + "; ".join(reasons) + ". Pick another name.")
    folder = root / "services" / names.folder
    changes = [
        Change(folder / path, text, f"services/{names.folder}/{path}")
        for path, text in render.service_files(names).items()
    ]

    def edited(name: str, text: str, summary: str) -> None:
        changes.append(Change(root / name, text, f"{name}: {summary}"))

    read = {name: (root / name).read_text() for name in _EDITED}
    edited(
        "pyproject.toml",
        stack_edits.add_workspace_member(read["pyproject.toml"], names),
        f"{names.folder} added to the workspace root's dependencies and [tool.uv.sources]",
    )
    for name, summary in (
        ("docker-compose.yml", f"service {names.folder}: profile {names.short}, routed at {names.path_prefix}, "
                               f"{stack_edits.SERVICE_MEMORY_MIB} MiB, healthcheck of every app"),
        ("docker-compose.prod.yml", f"{names.folder} pulled from ghcr.io, on the managed database, on the domain"),
        ("docker-compose.override.yml", f"{names.folder} in development mode, synced by `docker compose watch`"),
    ):  # fmt: skip
        block = render.stack_block(name, names)
        edited(name, stack_edits.add_compose_service(read[name], block, name), summary)
    deploy_md, total = stack_edits.add_memory_row(read["docs/deploy.md"], names)
    edited("docs/deploy.md", deploy_md, f"memory table row for {names.folder}; production total now {total} MiB")
    edited(
        ".env.example",
        stack_edits.add_env_example(read[".env.example"], render.stack_block("env.example", names), names),
        f"{names.env_prefix}_WEBHOOK_SECRET and {names.env_prefix}_FORWARD_URL explained; "
        f"profile {names.short} added to COMPOSE_PROFILES",
    )
    return changes


def memory_total(root: Path) -> int:
    found = re.search(r"\*\*total \(production\)\*\* \| \*\*(\d+) MiB", (root / "docs/deploy.md").read_text())
    return int(found.group(1)) if found else 0


def find_uv(root: Path) -> str | None:
    """The uv that made this environment (`uv run` says which), one on PATH, or the one `make` installed."""
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(root / ".zaps/tools/bin/uv")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def lock(root: Path) -> str:
    """`uv lock`: the new package enters uv.lock (the lock is what `make install` and the images install from)."""
    uv = find_uv(root)
    if uv is None:
        return "uv.lock: NOT updated (no uv found): run `uv lock` (or `make install`, which installs uv) yourself"
    # The program is one of the uv binaries above, never text from the user.
    result = subprocess.run([uv, "lock"], cwd=root, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    if result.returncode != 0:
        raise ScaffoldError(f"`uv lock` failed (the files are written; fix it, run `uv lock`):\n{result.stderr}")
    said = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    added = [line for line in said if line.startswith(("Added", "Updated"))] or said[-1:]
    return "uv.lock: " + ("; ".join(added) or "locked")


def new_service(raw_name: str, *, root: Path, run_uv_lock: bool = True) -> list[str]:
    """Make the service `raw_name` in the repository at `root`; returns one line per change, for the user."""
    names = parse_name(raw_name)
    changes = plan(root, names)
    for change in changes:
        change.path.parent.mkdir(parents=True, exist_ok=True)
        change.path.write_text(change.text)
    report = [f"created  {change.summary}" for change in changes if change.summary.startswith("services/")]
    report += [f"edited   {change.summary}" for change in changes if not change.summary.startswith("services/")]
    if run_uv_lock:
        report.append(f"edited   {lock(root)}")
    report += [f"found    {line}" for line in FOUND_BY_THEMSELVES]
    report += [
        f"next     uv run --frozen pytest services/{names.folder} -q   (its test, on a real database)",
        f"next     make dev   (installs it, then serves it at http://localhost:8000{names.path_prefix}/docs)",
        f"next     docs/automations.md: add automations to services/{names.folder}/src/{names.package}/automations.py",
    ]
    if memory_total(root) > MEMORY_BUDGET_MIB:
        report.append(
            f"WARNING  the production memory limits now add up to {memory_total(root)} MiB, more than the "
            f"{MEMORY_BUDGET_MIB} MiB tests/infra allows on the 4 GB droplet: lower a limit or plan a bigger "
            "droplet (docs/deploy.md, Memory budget), or `make test` fails"
        )
    return report
