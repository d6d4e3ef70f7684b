"""Each infra file through the checker made for it: hadolint, shellcheck, actionlint, zizmor, yamllint, the Loki
schema and the real Traefik binary. Every check also runs once on a broken copy, to prove it still bites."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from stackcheck import ROOT, run

Edit = Callable[[Path, str, str], None]
Tool = Callable[[str], str]

YAML_FILES = [
    "docker-compose.yml",
    "docker-compose.override.yml",
    "docker-compose.prod.yml",
    ".yamllint.yml",
    "infra",
    "grafana",
    ".github",
]


def tool_env(bin_path: Tool) -> dict[str, str]:
    """PATH with the infra tools first (actionlint runs shellcheck on every `run:` block when it finds it)."""
    return {"PATH": f"{Path(bin_path('shellcheck')).parent}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": "/tmp"}


def hadolint(bin_path: Tool, root: Path) -> str:
    result = run([bin_path("hadolint"), "--no-color", "Dockerfile"], cwd=root)
    return result.stdout + result.stderr if result.returncode else ""


def shellcheck(bin_path: Tool, root: Path) -> str:
    scripts = sorted(
        str(p.relative_to(root))
        for p in [*root.glob("scripts/*.sh"), *root.glob("infra/**/*.sh"), *root.glob("tests/stack/**/*.sh")]
    )
    result = run([bin_path("shellcheck"), "--format=gcc", *scripts], cwd=root)
    return result.stdout + result.stderr if result.returncode else ""


def actionlint(bin_path: Tool, root: Path) -> str:
    workflows = sorted(str(p.relative_to(root)) for p in (root / ".github/workflows").glob("*.y*ml"))
    result = run([bin_path("actionlint"), "-no-color", *workflows], cwd=root, env=tool_env(bin_path))
    return result.stdout + result.stderr if result.returncode else ""


def zizmor(bin_path: Tool, root: Path) -> str:
    result = run(
        [bin_path("zizmor"), "--offline", "--no-progress", "--format=plain", ".github/workflows"],
        cwd=root,
        env=tool_env(bin_path),
    )
    return result.stdout + result.stderr if result.returncode else ""


def yamllint(bin_path: Tool, root: Path) -> str:
    result = run([bin_path("yamllint"), "--strict", "-f", "parsable", *YAML_FILES], cwd=root)
    return result.stdout + result.stderr if result.returncode else ""


def loki_schema(bin_path: Tool, root: Path) -> str:
    result = run(
        [bin_path("check-jsonschema"), "--schemafile", "infra/schemas/loki.schema.json", "infra/loki/loki.yml"],
        cwd=root,
    )
    return result.stdout + result.stderr if result.returncode else ""


def traefik_static(bin_path: Tool, root: Path, name: str) -> str:
    """Traefik loads a static file the way it does at start (`healthcheck` loads it, then pings): an unknown or
    misspelt option stops it with "field not found". The ping itself fails here, nothing listens; that is fine."""
    result = run([bin_path("traefik"), "healthcheck", f"--configFile=infra/traefik/{name}"], cwd=root)
    output = result.stdout + result.stderr
    return output if "command healthcheck error" in output or "Error calling healthcheck" not in output else ""


CHECKS: dict[str, Callable[[Tool, Path], str]] = {
    "hadolint": hadolint,
    "shellcheck": shellcheck,
    "actionlint": actionlint,
    "zizmor": zizmor,
    "yamllint": yamllint,
    "loki-schema": loki_schema,
    "traefik-static-prod": lambda b, r: traefik_static(b, r, "traefik.yml"),
    "traefik-static-dev": lambda b, r: traefik_static(b, r, "traefik.dev.yml"),
}

# One realistic mistake per check, and a fragment of what the checker must say about it.
BREAKAGES: dict[str, tuple[str, str, str, str]] = {
    "hadolint": ("Dockerfile", "USER 10001:10001", "USER root", "DL3002"),
    "shellcheck": ("scripts/deploy.sh", 'cd "${APP_DIR}"', "cd ${APP_DIR}", "SC2086"),
    "actionlint": (".github/workflows/deploy.yml", "SERVICE: ${{ matrix.service }}", "SERVICE: ${{ matrix.servce }}",
                   'property "servce" is not defined'),
    "zizmor": (
        ".github/workflows/ci.yml",
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1  # v7.0.1",
        "actions/checkout@v7",
        "unpinned-uses",
    ),
    "yamllint": ("infra/loki/loki.yml", "  log_level: warn", "  log_level: warn\n  log_level: info", "duplication"),
    "loki-schema": ("infra/loki/loki.yml", "retention_enabled: true", "retention_enable: true", "retention_enable"),
    "traefik-static-prod": ("infra/traefik/traefik.yml", "exposedByDefault: false", "exposedByDefualt: false",
                            "field not found, node: exposedByDefualt"),
    "traefik-static-dev": ("infra/traefik/traefik.dev.yml", "entryPoint: traefik", "entrypont: traefik",
                           "field not found"),
}  # fmt: skip


@pytest.mark.parametrize("check", CHECKS)
def test_the_stack_passes(check: str, bin_path: Tool) -> None:
    assert CHECKS[check](bin_path, ROOT) == ""


@pytest.mark.parametrize("check", BREAKAGES)
def test_a_broken_file_fails(check: str, bin_path: Tool, stack: Path, edit: Edit) -> None:
    path, old, new, expected = BREAKAGES[check]
    edit(stack / path, old, new)
    report = CHECKS[check](bin_path, stack)
    assert expected in report, report


def test_grafana_dashboards_use_the_provisioned_datasources() -> None:
    import yaml

    uids = {
        source["uid"]
        for path in (ROOT / "grafana/provisioning/datasources").glob("*.yml")
        for source in yaml.safe_load(path.read_text())["datasources"]
    }
    assert uids == {"loki", "zaps-postgres"}
    titles = {}
    for path in sorted((ROOT / "grafana/provisioning/dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        titles[dashboard["title"]] = dashboard["uid"]
        used = {
            target["datasource"]["uid"]
            for panel in dashboard["panels"]
            for target in [panel, *panel.get("targets", [])]
            if isinstance(target.get("datasource"), dict)
        }
        assert used <= uids, f"{path.name} uses unknown datasources {used - uids}"
    assert set(titles) == {"Automations", "Service logs"}
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    # docker-compose.yml mounts ./grafana/provisioning at /etc/grafana/provisioning
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/provisioning/dashboards"


# Tables and columns the Automations dashboard reads (grafana/provisioning/dashboards/automations.json).
DASHBOARD_COLUMNS = {
    "zaps_run": {"id", "automation", "status", "attempts", "error", "created_at", "finished_at", "event_id"},
    "zaps_event": {"id", "received_at"},
}


def test_the_automations_dashboard_reads_tables_the_migrations_create() -> None:
    sql = " ".join(
        target["rawSql"]
        for panel in json.loads((ROOT / "grafana/provisioning/dashboards/automations.json").read_text())["panels"]
        for target in panel["targets"]
    )
    assert set(re.findall(r"\b(?:FROM|JOIN)\s+(zaps_\w+)", sql)) == set(DASHBOARD_COLUMNS)
    migrations = " ".join(p.read_text() for p in (ROOT / "libs/zaps/src/zaps/migrations/versions").glob("*.py"))
    tables = dict(re.findall(r"CREATE TABLE (\w+) \((.*?)\n\s*\);", migrations, flags=re.DOTALL))
    if "zaps_run" not in tables:
        pytest.skip("the engine's run tables are not migrated yet")
    for table, columns in DASHBOARD_COLUMNS.items():
        defined = set(re.findall(r"^\s+(\w+) ", tables[table], flags=re.MULTILINE))
        assert columns <= defined, f"{table} lacks {columns - defined}"
