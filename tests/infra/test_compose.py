"""The compose model Docker would run, rendered by `docker compose config` (no engine needed), per environment."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from stackcheck import (
    ROOT,
    ComposeError,
    dependency_problems,
    env_example_problems,
    healthcheck_problems,
    image_problems,
    loopback_only_problems,
    memory_limits,
    memory_problems,
    network_problems,
    published_port_problems,
    render,
    routing_problems,
)

ENVIRONMENTS = ["base", "dev", "prod"]
DOMAIN = "zaps.example.com"
DROPLET_MIB = 4096
OS_AND_DOCKER_MIB = 512  # Ubuntu, dockerd and containerd on the droplet
# Every folder under services/ is a compose service of the same name (`zaps new service` adds them).
SERVICE_FOLDERS = sorted(path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_service_has_a_healthcheck(models: dict[str, Any], env: str) -> None:
    assert healthcheck_problems(models[env]) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_service_has_a_memory_limit(models: dict[str, Any], env: str) -> None:
    assert memory_problems(models[env]) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_services_wait_only_for_dependencies_that_have_a_healthcheck(models: dict[str, Any], env: str) -> None:
    assert dependency_problems(models[env]) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_images_are_pinned_never_latest(models: dict[str, Any], env: str) -> None:
    assert image_problems(models[env]) == []


def test_prod_publishes_only_traefiks_80_and_443(models: dict[str, Any]) -> None:
    assert published_port_problems(models["prod"]) == []
    traefik_ports = {str(port["published"]) for port in models["prod"]["services"]["traefik"]["ports"]}
    assert traefik_ports == {"80", "443"}
    assert [name for name, svc in models["prod"]["services"].items() if svc.get("ports")] == ["traefik"]


def test_local_ports_listen_on_localhost_only(models: dict[str, Any]) -> None:
    assert loopback_only_problems(models["dev"]) == []
    published = {
        (name, str(port["published"]))
        for name, svc in models["dev"]["services"].items()
        for port in svc.get("ports") or []
    }
    # Traefik on http://localhost (ZAPS_HTTP_PORT), the dashboard, Grafana, and the databases for local tools
    assert published == {
        ("traefik", "80"),
        ("traefik", "8080"),
        ("grafana", "3000"),
        ("postgres", "5432"),
        ("redis", "6379"),
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_route_strips_its_prefix_and_the_app_serves_under_it(models: dict[str, Any], env: str) -> None:
    assert routing_problems(models[env], ROOT, domain=DOMAIN if env == "prod" else None) == []
    routers = {
        name
        for name, svc in models[env]["services"].items()
        for key in svc.get("labels") or {}
        if key.startswith("traefik.http.routers.")
    }
    assert routers == {*SERVICE_FOLDERS, "grafana"}


def test_traefik_reaches_every_routed_service_on_its_network(models: dict[str, Any]) -> None:
    for env, static in (("dev", "traefik.dev.yml"), ("prod", "traefik.yml")):
        config = yaml.safe_load((ROOT / "infra/traefik" / static).read_text())
        assert network_problems(models[env], config) == [], env


def test_prod_runs_the_managed_database_and_registry_images(models: dict[str, Any]) -> None:
    services = models["prod"]["services"]
    assert "postgres" not in services
    assert "pgdata" not in (models["prod"].get("volumes") or {})
    assert {"test-service", "ringcentral-service", "console"} <= set(SERVICE_FOLDERS)
    for name in SERVICE_FOLDERS:
        app = services[name]
        assert "build" not in app, f"{name} must never be built on the droplet"
        assert app["image"] == f"ghcr.io/owner/zaps-{name}:sha-0123456789abcdef0123456789abcdef01234567"
        assert app["environment"]["DATABASE_URL"].endswith("sslmode=require")
        assert app["environment"]["ENVIRONMENT"] == "production"
        assert set(app["depends_on"]) == {"redis"}
    assert {svc.get("restart") for svc in services.values()} == {"always"}


def test_prod_refuses_to_render_without_its_secrets(tmp_path: Path) -> None:
    for name in ("docker-compose.yml", "docker-compose.prod.yml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    with pytest.raises(ComposeError, match="DATABASE_URL must point at the managed PostgreSQL"):
        render(tmp_path, "prod", {"DATABASE_URL": ""})


def test_every_service_folder_is_built_and_routed(models: dict[str, Any]) -> None:
    """A new folder under services/ must be added to docker-compose.yml (docs/deploy.md, "Add a service")."""
    built = {
        svc["build"]["args"]["SERVICE"]
        for svc in models["dev"]["services"].values()
        if (svc.get("build") or {}).get("args", {}).get("SERVICE")
    }
    folders = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")}
    assert folders <= built, f"services without a compose entry: {sorted(folders - built)}"
    for name in built:
        assert name in models["dev"]["services"], "the compose service is named after its folder"


def test_the_apps_healthcheck_is_the_dockerfiles(models: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])$", dockerfile, flags=re.MULTILINE)
    assert match, "the Dockerfile has no exec-form HEALTHCHECK"
    in_image = yaml.safe_load(match.group(1))
    assert models["dev"]["services"]["test-service"]["healthcheck"]["test"] == ["CMD", *in_image]


def test_memory_budget_fits_the_droplet_and_matches_the_docs(models: dict[str, Any]) -> None:
    limits = memory_limits(models["prod"])
    total = sum(limits.values())
    # Room to spare: the OS and Docker, plus a quarter of the droplet free for growth and page cache.
    assert total + OS_AND_DOCKER_MIB <= DROPLET_MIB * 0.75, f"{total:.0f} MiB of limits"
    docs = (ROOT / "docs/deploy.md").read_text()
    for name, mib in limits.items():
        assert re.search(rf"^\| `{re.escape(name)}` \| {mib:.0f} MiB \|", docs, flags=re.MULTILINE), (
            f"docs/deploy.md's memory table does not say {name} = {mib:.0f} MiB"
        )
    assert f"| **total (production)** | **{total:.0f} MiB** |" in docs


def test_env_example_documents_every_variable() -> None:
    listed = [
        "ENVIRONMENT", "LOG_LEVEL", "DATABASE_URL", "REDIS_URL", "ADMIN_TOKEN", "ZAPS_CODE_VERSION", "RUN_WORKER",
        "WORKER_CONCURRENCY", "DB_POOL_MIN_SIZE", "DB_POOL_MAX_SIZE", "PATH_PREFIX", "SERVICE_NAME",
        "RINGCENTRAL_SERVER_URL", "RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT",
        "RINGCENTRAL_POLL_INTERVAL_SECONDS", "RINGCENTRAL_SHADOW_MODE", "SLACK_WEBHOOK_URL", "SMTP_HOST",
        "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM", "ALERT_SLACK_WEBHOOK_URL",
        "WEBHOOK_SIGNING_SECRET", "CONSOLE_ADMIN_USERNAME", "CONSOLE_ADMIN_PASSWORD_HASH", "CONSOLE_SESSION_SECRET",
        "GRAFANA_ADMIN_PASSWORD", "POSTGRES_PASSWORD", "IMAGE_TAG", "ZAPS_DOMAIN", "GHCR_OWNER",
    ]  # fmt: skip
    assert env_example_problems(ROOT, listed) == []


# --- breaking the files on purpose: each check must name the breakage -------------------------------------


def test_a_published_postgres_port_in_prod_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    # Someone keeps the database container in production and publishes its port "for a quick look".
    edit(stack / "docker-compose.prod.yml", "  postgres: !reset null\n", "")
    edit(stack / "docker-compose.prod.yml", "  pgdata: !reset null\n", "  pgdata: {}\n")
    edit(
        stack / "docker-compose.prod.yml",
        "  redis:\n    restart: always\n",
        "  redis:\n    restart: always\n  postgres:\n    ports: ['5432:5432']\n",
    )
    problems = published_port_problems(render(stack, "prod"))
    assert problems == ["postgres publishes port 5432 to the world"]


def test_an_extra_public_port_on_traefik_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    edit(stack / "docker-compose.prod.yml", '      - "443:443"\n', '      - "443:443"\n      - "8080:8080"\n')
    assert published_port_problems(render(stack, "prod")) == ["traefik publishes port 8080 to the world"]


def test_a_missing_healthcheck_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    text = (stack / "docker-compose.yml").read_text()
    redis_check = '    healthcheck:\n      test: ["CMD", "redis-cli", "ping"]\n      interval: 5s\n      timeout: 3s\n'
    assert redis_check in text
    edit(stack / "docker-compose.yml", redis_check + "      retries: 10\n", "")
    model = render(stack, "dev")
    assert healthcheck_problems(model) == ["redis has no healthcheck"]
    assert "test-service waits for redis to be healthy, but redis has no healthcheck" in dependency_problems(model)


def test_a_missing_memory_limit_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    edit(stack / "docker-compose.yml", "          memory: 96M\n", "          cpus: '0.5'\n")
    assert memory_problems(render(stack, "prod")) == ["redis has no memory limit"]


def test_a_latest_tag_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    edit(stack / "docker-compose.yml", "image: grafana/loki:3.7.6", "image: grafana/loki:latest")
    edit(stack / "docker-compose.yml", "image: redis:8.6.3-alpine", "image: redis")
    assert image_problems(render(stack, "dev")) == [
        "loki: image grafana/loki:latest uses a moving `latest` tag",
        "redis: image redis has no tag (means latest)",
    ]


def test_a_traefik_label_typo_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    edit(
        stack / "docker-compose.yml",
        "traefik.http.middlewares.test-service-strip.stripprefix.prefixes",
        "traefik.http.middlewares.test-service-strip.stripprefix.prefix",
    )
    problems = routing_problems(render(stack, "dev"), stack)
    assert "middleware test-service-strip: stripprefix without `prefixes`" in problems


def test_a_root_path_that_differs_from_the_stripped_prefix_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    edit(stack / "docker-compose.yml", "PATH_PREFIX: /api/test ", "PATH_PREFIX: /api/tests ")
    problems = routing_problems(render(stack, "dev"), stack)
    assert any("strips /api/test but the app's root path is '/api/tests'" in p for p in problems)


def test_a_prod_route_without_the_domain_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    edit(
        stack / "docker-compose.prod.yml",
        "Host(`${ZAPS_DOMAIN}`) && (Path(`/api/test`) || PathPrefix(`/api/test/`))",
        "Path(`/api/test`) || PathPrefix(`/api/test/`)",
    )
    problems = routing_problems(render(stack, "prod"), stack, domain=DOMAIN)
    assert problems == ["router test-service (test-service): rule 'Path(`/api/test`) || PathPrefix(`/api/test/`)' "
                        "is not bound to Host(`zaps.example.com`)"]  # fmt: skip


def test_a_prefix_that_swallows_longer_paths_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    edit(stack / "docker-compose.yml", "Path(`/api/test`) || PathPrefix(`/api/test/`)", "PathPrefix(`/api/test`)")
    problems = routing_problems(render(stack, "dev"), stack)
    assert problems == ["router test-service: PathPrefix(`/api/test`) also matches /api/test-something; "
                        "use Path(`/api/test`) || PathPrefix(`/api/test/`)"]  # fmt: skip


def test_an_undocumented_variable_is_caught(stack: Path, edit: Callable[..., None]) -> None:
    edit(stack / "docker-compose.yml", "      RINGCENTRAL_DEMO:\n", "      RINGCENTRAL_DEMO:\n      NEW_SECRET:\n")
    assert env_example_problems(stack) == ["NEW_SECRET is not in .env.example"]
