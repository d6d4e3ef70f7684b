"""The real Traefik, fed the compose model's labels through a stand-in Docker API (see traefik_live.py)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stackcheck import ROOT, render, traefik_labels
from traefik_live import LiveTraefik, live_traefik


@pytest.fixture(scope="module")
def traefik(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTraefik]:
    with live_traefik(models["dev"], ROOT, workdir=tmp_path_factory.mktemp("traefik")) as live:
        yield live


def routers(live: LiveTraefik) -> dict[str, dict[str, Any]]:
    return {router["name"]: router for router in live.api("/http/routers") if router["provider"] == "docker"}


def test_every_labelled_router_is_live_and_error_free(traefik: LiveTraefik, models: dict[str, Any]) -> None:
    expected = {f"{name}@docker" for name in traefik_labels(models["dev"])["routers"]}
    live = routers(traefik)
    assert set(live) == expected
    assert {name: router["status"] for name, router in live.items()} == dict.fromkeys(expected, "enabled")
    assert "field not found" not in traefik.log()


@pytest.mark.parametrize(
    ("url", "service", "path", "prefix"),
    [
        ("/api/test/health", "test-service", "/health", "/api/test"),
        ("/api/test/docs", "test-service", "/docs", "/api/test"),
        ("/api/test/hooks/demo", "test-service", "/hooks/demo", "/api/test"),
        ("/api/ringcentral/health/ready", "ringcentral-service", "/health/ready", "/api/ringcentral"),
        ("/console/runs/42", "console", "/runs/42", "/console"),
        ("/grafana/api/health", "grafana", "/api/health", "/grafana"),
    ],
)
def test_a_request_reaches_its_service_with_the_prefix_stripped(
    traefik: LiveTraefik, url: str, service: str, path: str, prefix: str
) -> None:
    answer = traefik.get(url)
    assert answer.status == 200
    assert answer.body == {"service": service, "path": path, "x_forwarded_prefix": prefix}


def test_answers_carry_the_security_headers(traefik: LiveTraefik) -> None:
    headers = traefik.get("/api/test/health").headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "server" not in headers  # the backend's Server header is removed


def test_only_webhook_routes_are_rate_limited(traefik: LiveTraefik) -> None:
    live = routers(traefik)
    assert "webhook-ratelimit@file" in live["test-service-webhooks@docker"]["middlewares"]
    assert "webhook-ratelimit@file" not in live["test-service@docker"]["middlewares"]


def test_a_token_in_the_url_reaches_its_service_but_never_traefik_s_access_log(traefik: LiveTraefik) -> None:
    token = "url-token-" + secrets.token_hex(12)
    with_token = traefik.get(f"/api/test/hooks/contact-form/t/{token}")
    visible = traefik.get("/api/test/hooks/contact-form?seen=" + token[-8:])  # an ordinary webhook request
    assert with_token.status == visible.status == 200
    assert with_token.body == {
        "service": "test-service",
        "path": f"/hooks/contact-form/t/{token}",
        "x_forwarded_prefix": "/api/test",
    }
    live = routers(traefik)
    assert (
        live["test-service-webhooks-token@docker"]["middlewares"] == live["test-service-webhooks@docker"]["middlewares"]
    )
    deadline = time.monotonic() + 5
    while "/api/test/hooks/contact-form?seen=" not in traefik.log() and time.monotonic() < deadline:
        time.sleep(0.1)  # the access log is written after the answer: wait for the ordinary request's line
    log = traefik.log()
    assert f"/api/test/hooks/contact-form?seen={token[-8:]}" in log
    assert token not in log


def test_paths_outside_every_prefix_are_not_routed(traefik: LiveTraefik) -> None:
    assert traefik.get("/").status == 404
    assert traefik.get("/api/testing/health").status == 404  # /api/test must not swallow /api/testing


# --- what Traefik itself does with a broken file ----------------------------------------------------------


def test_a_label_typo_makes_traefik_drop_the_service(
    stack: Path, edit: Callable[[Path, str, str], None], tmp_path_factory: pytest.TempPathFactory
) -> None:
    edit(
        stack / "docker-compose.yml",
        "traefik.http.middlewares.test-service-strip.stripprefix.prefixes",
        "traefik.http.middlewares.test-service-strip.stripprefix.prefix",
    )
    with live_traefik(render(stack, "dev"), stack, workdir=tmp_path_factory.mktemp("typo")) as live:
        assert "test-service@docker" not in routers(live)
        assert live.get("/api/test/health").status == 404
        assert "field not found, node: prefix" in live.log()


def test_a_middleware_typo_in_the_dynamic_file_is_refused(
    stack: Path, edit: Callable[[Path, str, str], None], tmp_path_factory: pytest.TempPathFactory
) -> None:
    edit(stack / "infra/traefik/dynamic/middlewares.yml", "stsSeconds:", "stsSecond:")
    with live_traefik(render(stack, "dev"), stack, workdir=tmp_path_factory.mktemp("dynamic")) as live:
        middlewares = {m["name"] for m in live.api("/http/middlewares")}
        assert "secure-headers@file" not in middlewares
        assert "field not found" in live.log()
