"""`zaps new service` in a throw-away copy of the repository, then that copy's own checks, as `make test` runs
them: the lock, the install, the new service's test on a real database, ruff, mypy over every package, and the
infra checks of the compose files and the memory table. The path a new user takes, from the docs alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from zaps.scaffold.create import find_uv
from zaps.testing.apps import free_port
from zaps.testing.waiting import sync_eventually

ROOT = Path(__file__).resolve().parents[2]
NAME = "billing"  # services/billing-service, /api/billing, BILLING_*: the name docs/automations.md uses
DOCS = ROOT / "docs" / "automations.md"

sys.path.insert(0, str(ROOT / "tests" / "infra"))
from stackcheck import render, routing_problems  # noqa: E402


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```(?:sh|bash)\n(.*?)```", markdown, flags=re.S)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def billing_runs(database_url: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(database_url) as conn:
        query = "SELECT status, filter_reason FROM zaps_run WHERE automation = 'billing.forward-events' ORDER BY id"
        return [(status, reason) for status, reason in conn.execute(query).fetchall()]


def ended(rows: list[tuple[str, str | None]]) -> bool:
    return bool(rows) and rows[0][0] not in ("queued", "running", "retrying")


def copy_of_the_repository(target: Path) -> None:
    """The files git knows, and new ones it does not ignore: what a fresh clone with this work in it holds."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree is still listed until the deletion is committed
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
            (target / name).chmod(source.stat().st_mode)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("repository")
    copy_of_the_repository(target)
    return target


@pytest.fixture(scope="module")
def uv() -> str:
    found = find_uv(ROOT)
    if found is None:
        pytest.fail("no uv: run the tests with `make test` or `uv run pytest` (scripts/ensure-uv.sh installs it)")
    return found


def run(repo: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # The copy's own environment (its .venv), not the one running this test.
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    return subprocess.run(list(args), cwd=repo, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def made(repo: Path, uv: str) -> str:
    """The output of `uv run zaps new service billing`, run in the copy as the docs say."""
    return ok(run(repo, uv, "run", "--frozen", "zaps", "new", "service", NAME))


def test_it_says_what_it_made_and_changed(made: str) -> None:
    for line in (
        "created  services/billing-service/src/billing_service/automations.py",
        "created  services/billing-service/tests/test_automations.py",
        "edited   pyproject.toml",
        "edited   docker-compose.yml",
        "edited   docker-compose.prod.yml",
        "edited   docker-compose.override.yml",
        "edited   docs/deploy.md",
        "edited   .env.example",
        "edited   uv.lock: Added billing-service",
    ):
        assert line in made


@pytest.fixture(scope="module")
def installed(repo: Path, uv: str, made: str) -> Path:
    """The copy's lock checked and its environment installed, as `make install` does; its Python."""
    ok(run(repo, uv, "lock", "--check"))
    ok(run(repo, uv, "sync", "--frozen", "--all-groups", "--all-packages"))
    return repo / ".venv" / "bin" / "python"


def test_the_lock_matches_and_the_service_is_installed(installed: Path) -> None:
    found = subprocess.run(
        [str(installed), "-c", "from zaps.registry import get_service; print(get_service('billing').default_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "/api/billing"


def test_the_new_services_own_test_passes_on_a_real_database(repo: Path, uv: str, installed: Path) -> None:
    output = ok(run(repo, uv, "run", "--frozen", "pytest", "services/billing-service", "-q", "-p", "no:cacheprovider"))
    assert "3 passed" in output


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")), reason="needs curl and openssl")
def test_the_docs_curl_command_makes_a_run_of_the_new_service(installed: Path, database_url: str) -> None:
    """ "Adding a service" in docs/automations.md, step 2, as written, against `zaps serve billing` of the copy."""
    snippet = next(block for block in shell_blocks(DOCS.read_text()) if "/api/billing/hooks/" in block)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory() as empty:  # no .env of a developer's reaches the server
        log = Path(empty) / "server.log"
        with log.open("wb") as output:
            server = subprocess.Popen(
                [str(installed), "-m", "zaps.cli", "serve", "billing", "--port", str(port)],
                cwd=empty,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            sync_eventually(lambda: answers(base + "/api/billing/health"), bool, timeout=60)
            script = snippet.replace("http://localhost:8000", base)
            sent = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=30
            )
            assert sent.returncode == 0, sent.stderr
            assert '"runs":1' in sent.stdout.replace(" ", ""), sent.stdout
            done = sync_eventually(lambda: billing_runs(database_url), ended, timeout=60)
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe server said:\n{log.read_text()[-4000:]}") from None
        finally:
            server.terminate()
            server.wait(timeout=20)
    assert done == [("filtered", "BILLING_FORWARD_URL is not set")]


def test_ruff_passes(repo: Path, uv: str, installed: Path) -> None:
    ok(run(repo, uv, "run", "--frozen", "ruff", "check", "."))
    ok(run(repo, uv, "run", "--frozen", "ruff", "format", "--check", "."))


def test_mypy_checks_the_new_service_and_passes(repo: Path, uv: str, installed: Path) -> None:
    checked = run(repo, uv, "run", "--frozen", "mypy", "--verbose")
    assert "Success: no issues found" in ok(checked)
    # Its modules, checked under the names they are imported by (the verbose log lists each source).
    assert "module='billing_service.settings'" in checked.stderr
    assert "module='billing_service.automations'" in checked.stderr


def test_the_infra_and_workspace_checks_pass(repo: Path, uv: str, installed: Path) -> None:
    # Everything of tests/infra (compose entries, routes, .env.example, the memory table, the live Traefik) and the
    # type-check coverage; not this file again.
    output = ok(
        run(
            repo, uv, "run", "--frozen", "pytest", "tests/infra", "tests/workspace/test_typecheck_coverage.py",
            "-q", "-p", "no:cacheprovider",
        )
    )  # fmt: skip
    assert " failed" not in output


@pytest.mark.parametrize(("env", "domain"), [("dev", None), ("prod", "zaps.example.com")])
def test_the_new_service_is_routed_in_both_compose_files(repo: Path, made: str, env: str, domain: str | None) -> None:
    model: dict[str, Any] = render(repo, env)
    service = model["services"]["billing-service"]
    rules = {key: value for key, value in service["labels"].items() if key.endswith(".rule")}
    assert rules["traefik.http.routers.billing-service.rule"].endswith(
        "Path(`/api/billing`) || PathPrefix(`/api/billing/`)" + (")" if domain else "")
    )
    assert "/api/billing/hooks/" in rules["traefik.http.routers.billing-service-webhooks.rule"]
    if domain:
        assert all(rule.startswith("Host(`zaps.example.com`) && ") for rule in rules.values())
        assert service["image"].endswith("/zaps-billing-service:sha-0123456789abcdef0123456789abcdef01234567")
    assert service["environment"]["PATH_PREFIX"] == "/api/billing"
    assert routing_problems(model, repo, domain=domain) == []
