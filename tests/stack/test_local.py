"""The local stack (docker-compose.yml + docker-compose.override.yml), as the owner's quick start uses it:
`cp .env.example .env`, `docker compose up -d`, then the URLs of README and docs/deploy.md.

Loki, Alloy and Grafana are left out (COMPOSE_PROFILES) where their images cannot be pulled: nothing builds them
here. Their configuration keeps its static checks in tests/infra.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from engine import ROOT, Engine
from stack import HERE, Stack, figure, signed_order, sink_records, wait_for
from standins import Images

ADMIN = {"Authorization": "Bearer changeme"}  # .env.example's development token


def free_port(preferred: int | None = None) -> int:
    """`preferred` if nothing listens there on 127.0.0.1, else a free port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port")


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


@pytest.fixture(scope="module")
def local(docker: Engine, images: Images) -> Iterator[Stack]:
    profiles = ["ringcentral", "console"] + ([] if images.unavailable() else ["logs"])
    stack = Stack(
        engine=docker,
        project="zaps-stacktest-local",
        directory=ROOT,
        files=["docker-compose.yml", "docker-compose.override.yml", str(HERE / "compose.stack-test.yml")],
    )
    stack.env = env_example() | {
        "COMPOSE_PROFILES": ",".join(profiles),
        # The quick start's port 80 where it is free (CI); otherwise a free one. The others are moved where a
        # PostgreSQL or Redis of the machine's own holds them.
        "ZAPS_HTTP_PORT": str(free_port(80)),
        "ZAPS_DASHBOARD_PORT": str(free_port(8080)),
        "ZAPS_POSTGRES_PORT": str(free_port(5432)),
        "ZAPS_REDIS_PORT": str(free_port(6379)),
        "ZAPS_GRAFANA_PORT": str(free_port(3000)),
        "STACK_TEST_PYTHON_IMAGE": images.python,
        "STACK_TEST_DIR": str(HERE),
        # What the automations send to: the sink container.
        "ORDERS_FORWARD_URL": "http://sink:8080/orders",
        "SLACK_WEBHOOK_URL": "http://sink:8080/slack",
        "RINGCENTRAL_WEBHOOK_URL": "http://sink:8080/crm",
        "SMTP_HOST": "sink",
        "SMTP_PORT": "2525",
        "SMTP_FROM": "zaps@example.com",
        "SMTP_STARTTLS": "false",
        # RingCentral's demo mode runs the example automations against the built-in simulator.
        "RINGCENTRAL_DEMO": "true",
        "RINGCENTRAL_SHADOW_MODE": "false",
        "RINGCENTRAL_AUTOMATIONS_FILE": "/etc/zaps/ringcentral/automations.example.toml",
        "RINGCENTRAL_SMS_FROM": "+16505550100",
        "RINGCENTRAL_POLL_INTERVAL_SECONDS": "7",
        "HEARTBEAT_CRON": "* * * * * */3",  # every 3 s, so the scale test sees many ticks
    }
    if docker.socket is not None:
        stack.env["DOCKER_SOCKET"] = str(docker.socket)
    stack.write_env()
    started = time.monotonic()
    try:
        stack.up()
    except RuntimeError as error:
        status = stack.compose("ps", "-a", check=False).stdout
        logs = stack.compose("logs", "--no-color", "--tail", "30", check=False).stdout
        stack.down()
        pytest.fail(f"the local stack did not come up healthy:\n{error}\n{status}\n{logs[-6000:]}")
    figure("local stack: up -> all healthy", f"{time.monotonic() - started:.1f} s ({', '.join(profiles)} on)")
    time.sleep(5)  # let start-up settle before reading memory
    stats = docker.run("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}").stdout
    figure("local stack: idle memory per container", "; ".join(line for line in stats.splitlines() if line))
    try:
        yield stack
    finally:
        stack.down()
        stack.env_file.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def web(local: Stack) -> Iterator[httpx.Client]:
    port = local.env["ZAPS_HTTP_PORT"]
    origin = "http://localhost" if port == "80" else f"http://localhost:{port}"
    with httpx.Client(base_url=origin, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def sink(local: Stack) -> str:
    return f"http://127.0.0.1:{local.host_port('sink', 8080)}"


def test_quick_start_urls_answer_through_traefik(web: httpx.Client, images: Images) -> None:
    health = web.get("/api/test/health")
    assert health.status_code == 200, health.text
    assert health.json()["version"] == images.commit, "the image does not carry the commit it was built from"
    ready = web.get("/api/test/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    db = web.get("/api/test/db")
    assert db.status_code == 200 and db.json()["status"] == "ok", db.text
    redis = web.get("/api/test/redis")
    assert redis.status_code == 200 and redis.json()["status"] == "ok", redis.text


def test_docs_page_and_schema(web: httpx.Client) -> None:
    docs = web.get("/api/test/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower(), docs.text[:300]
    schema = web.get("/api/test/openapi.json")
    assert schema.status_code == 200 and "/hooks/big-orders" in schema.text


def test_dashboard_and_ports_are_local_only(local: Stack) -> None:
    dashboard = httpx.get(f"http://127.0.0.1:{local.env['ZAPS_DASHBOARD_PORT']}/dashboard/", timeout=10)
    assert dashboard.status_code == 200, "Traefik's dashboard is not on ZAPS_DASHBOARD_PORT"
    for service in ("traefik", "postgres", "redis"):
        for binding in local.inspect(local.containers(service)[0])["NetworkSettings"]["Ports"].values() or []:
            for host in binding or []:
                assert host["HostIp"] == "127.0.0.1", f"{service} publishes on {host['HostIp']}"


def test_signed_webhook_is_stored_run_and_delivered(web: httpx.Client, sink: str) -> None:
    order_id = f"stack-{uuid.uuid4().hex[:8]}"
    body, headers = signed_order(env_example().get("ORDERS_WEBHOOK_SECRET", "changeme"), {"id": order_id, "total": 250})
    answer = web.post("/api/test/hooks/big-orders", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    with httpx.Client(timeout=10) as client:
        wait_for(
            "the order at the sink",
            lambda: [r for r in sink_records(client, sink) if r["path"] == "/orders" and order_id in r["body"]] or None,
            timeout=60,
        )
    runs = web.get("/api/test/admin/runs", params={"automation": "test.big-orders"}, headers=ADMIN).json()["runs"]
    assert any(run["status"] == "succeeded" for run in runs), runs


def test_ringcentral_demo_runs_its_automations(web: httpx.Client, sink: str) -> None:
    status = web.get("/api/ringcentral/status")
    assert status.status_code == 200, status.text
    caller = "+1312555" + str(uuid.uuid4().int)[:4]
    added = web.post("/api/ringcentral/simulator/_sim/calls", json={"from": {"phoneNumber": caller}})
    assert added.status_code in (200, 201), added.text
    with httpx.Client(timeout=10) as client:
        posts = wait_for(
            "the missed call's Slack message at the sink (poll every 7 s)",
            lambda: (
                [r for r in sink_records(client, sink) if r["path"] == "/slack" and caller[-4:] in r["body"]] or None
            ),
            timeout=90,
        )
    assert len(posts) == 1, f"one missed call, {len(posts)} Slack messages"


def test_console_sign_in_page(web: httpx.Client) -> None:
    page = web.get("/console/login")
    assert page.status_code == 200, page.text[:300]
    assert "password" in page.text.lower() and "<form" in page.text, "the console's sign-in page did not render"


def test_scaled_service_fires_each_tick_once_and_both_replicas_serve(local: Stack, web: httpx.Client) -> None:
    local.up("--no-recreate", "--scale", "test-service=2")
    replicas = local.containers("test-service")
    assert len(replicas) == 2, replicas
    dsn = f"postgresql://zaps:zaps@127.0.0.1:{local.env['ZAPS_POSTGRES_PORT']}/zaps"
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        time.sleep(15)
        rows = conn.execute(
            "SELECT tick_at, count(*) FROM zaps_heartbeat WHERE tick_at > %s GROUP BY tick_at ORDER BY tick_at",
            (start,),
        ).fetchall()
    assert len(rows) >= 3, f"the heartbeat (every 3 s) fired for {len(rows)} ticks in 15 s"
    doubled = [(tick, count) for tick, count in rows if count != 1]
    assert not doubled, f"ticks fired more than once with two replicas: {doubled}"
    token = uuid.uuid4().hex
    for _ in range(20):
        assert web.get(f"/api/test/health?probe={token}").status_code == 200
    # Traefik's access log names the container address each request went to.
    lines = [line for line in local.logs("traefik").splitlines() if token in line]
    backends = {found[-1] for line in lines if (found := re.findall(r'"(http://[0-9.]+:8000)"', line))}
    assert len(backends) == 2, f"Traefik sent the {len(lines)} requests to {sorted(backends)}, not to both replicas"
    local.up("--no-recreate", "--scale", "test-service=1")
