"""`zaps new service` refuses a name already used anywhere in the stack, before it writes a single file."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from zaps.scaffold import ScaffoldError, new_service
from zaps.scaffold.create import find_root, taken
from zaps.scaffold.names import parse_name

ROOT = Path(__file__).resolve().parents[4]
STACK = [
    "pyproject.toml",
    "docker-compose.yml",
    "docker-compose.prod.yml",
    "docker-compose.override.yml",
    ".env.example",
]


@pytest.fixture
def repo(tmp_path):
    """The files the command reads and edits, and the services' pyproject files (it reads their entry points)."""
    for name in [*STACK, "docs/deploy.md", *(str(p.relative_to(ROOT)) for p in ROOT.glob("services/*/pyproject.toml"))]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def snapshot(root):
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("test", "the service name 'test' is taken by services/test-service"),
        ("ringcentral-service", "services/ringcentral-service already exists"),
        ("console", "the service name 'console' is taken by services/console"),
        ("logs", "already has a profile 'logs'"),
        ("orders", "ORDERS_WEBHOOK_SECRET is already a variable in .env.example"),
    ],
)
def test_a_name_in_use_is_refused_and_nothing_is_written(repo, raw, why):
    before = snapshot(repo)
    with pytest.raises(ScaffoldError, match=why):
        new_service(raw, root=repo, run_uv_lock=False)
    assert snapshot(repo) == before


def test_a_free_name_is_free_in_the_real_repository():
    assert taken(ROOT, parse_name("billing")) == []


def test_a_second_service_of_the_same_name_is_refused(repo):
    new_service("billing", root=repo, run_uv_lock=False)
    reasons = taken(repo, parse_name("billing"))
    assert reasons == [
        "services/billing-service already exists",
        "the service name 'billing' is taken by services/billing-service",
        "docker-compose.yml already has a service billing-service",
        "docker-compose.yml already routes /api/billing",
        "docker-compose.yml already has a profile 'billing' (it would start with that one)",
        "BILLING_WEBHOOK_SECRET is already a variable in .env.example (every service reads the same .env)",
        "BILLING_FORWARD_URL is already a variable in .env.example (every service reads the same .env)",
    ]


def test_the_root_is_found_from_any_folder_below_it(repo):
    (repo / "services/test-service/src").mkdir(parents=True)
    assert find_root(repo / "services/test-service/src") == repo
    with pytest.raises(ScaffoldError, match="no Zaps repository here"):
        find_root(repo.parent)


def test_the_command_explains_a_refusal_in_one_line(repo):
    result = subprocess.run(
        [sys.executable, "-m", "zaps.cli", "new", "service", "Bad_Name"], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("zaps new service: 'Bad_Name' is not a service name")
    assert result.stdout == ""


def test_it_warns_when_the_memory_limits_outgrow_the_droplet(repo):
    first = new_service("billing", root=repo, run_uv_lock=False)
    second = new_service("shipping", root=repo, run_uv_lock=False)
    assert not any(line.startswith("WARNING") for line in first)
    assert [line for line in second if line.startswith("WARNING")] == [
        "WARNING  the production memory limits now add up to 2656 MiB, more than the 2560 MiB tests/infra allows on "
        "the 4 GB droplet: lower a limit or plan a bigger droplet (docs/deploy.md, Memory budget), or `make test` fails"
    ]
