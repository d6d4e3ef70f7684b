"""scripts/deploy.sh, run for real against a stand-in `docker` command and a local HTTP server playing the site.

What the droplet would do is recorded by the stand-in: which tag each `compose up` started. The probe goes to
127.0.0.1 over plain HTTP (PROBE_SCHEME=http) instead of https://<domain>.
"""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from stackcheck import ROOT

NEW = "sha-" + "b" * 40
OLD = "sha-" + "a" * 40

FAKE_DOCKER = """#!{python}
# Stand-in for `docker`: records each call with the IMAGE_TAG it saw; `compose up` fails for FAIL_TAG.
import json, os, sys
args = sys.argv[1:]
with open(os.environ["DOCKER_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "tag": os.environ.get("IMAGE_TAG")}}) + "\\n")
if "config" in args:
    print(json.dumps({{"services": {{
        "test-service": {{"environment": {{"PATH_PREFIX": "/api/test"}}}},
        "redis": {{"environment": {{}}}},
    }}}}))
if "up" in args and os.environ.get("IMAGE_TAG") == os.environ.get("FAIL_TAG"):
    sys.exit(1)
"""


@dataclass
class Droplet:
    app_dir: Path
    docker_log: Path
    site: dict[str, str]  # what the site answers: the version its /health reports

    def deploy(self, tag: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(ROOT / "scripts/deploy.sh"), tag],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={
                "PATH": f"{self.app_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
                "APP_DIR": str(self.app_dir),
                "DOCKER_LOG": str(self.docker_log),
                "PROBE_SCHEME": "http",
                "PROBE_SECONDS": "3",
                "WAIT_SECONDS": "5",
                **env,
            },
        )

    def started_tags(self) -> list[str | None]:
        calls = [json.loads(line) for line in self.docker_log.read_text().splitlines()]
        return [call["tag"] for call in calls if "up" in call["args"]]

    def deployed(self) -> str:
        return (self.app_dir / ".deployed-tag").read_text().strip()


@pytest.fixture
def droplet(tmp_path: Path) -> Iterator[Droplet]:
    site = {"version": NEW.removeprefix("sha-")}

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = {"/api/test/health": {"status": "ok", "version": site["version"]},
                    "/api/test/health/ready": {"status": "ready"}}.get(self.path)  # fmt: skip
            data = json.dumps(body).encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app_dir = tmp_path / "srv-zaps"
    (app_dir / "bin").mkdir(parents=True)
    docker = app_dir / "bin/docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    (app_dir / ".env").write_text(f"ZAPS_DOMAIN=127.0.0.1:{server.server_address[1]}\n")
    (app_dir / ".deployed-tag").write_text(OLD + "\n")
    yield Droplet(app_dir=app_dir, docker_log=tmp_path / "docker.log", site=site)
    server.shutdown()
    server.server_close()


def test_a_healthy_deploy_records_the_new_tag(droplet: Droplet) -> None:
    result = droplet.deploy(NEW)
    assert result.returncode == 0, result.stderr
    assert droplet.started_tags() == [NEW]
    assert droplet.deployed() == NEW
    assert "ok   http://127.0.0.1" in result.stdout


def test_a_stack_that_does_not_come_up_is_rolled_back(droplet: Droplet) -> None:
    result = droplet.deploy(NEW, FAIL_TAG=NEW)
    assert result.returncode == 1
    assert droplet.started_tags() == [NEW, OLD]
    assert droplet.deployed() == OLD
    assert f"rolled back to {OLD}" in result.stderr


def test_a_site_still_serving_the_old_code_is_rolled_back(droplet: Droplet) -> None:
    droplet.site["version"] = OLD.removeprefix("sha-")  # e.g. Traefik still routes to the old container
    result = droplet.deploy(NEW)
    assert result.returncode == 1
    assert droplet.started_tags() == [NEW, OLD]
    assert "expected" in result.stderr


@pytest.mark.parametrize("tag", ["latest", "main", "sha-", "sha-xyz; rm -rf /"])
def test_only_immutable_commit_tags_are_deployed(droplet: Droplet, tag: str) -> None:
    result = droplet.deploy(tag)
    assert result.returncode == 2
    assert not droplet.docker_log.exists()
