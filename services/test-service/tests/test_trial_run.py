"""`zaps run test.big-orders --event sample.json [--dry-run]` as a person types it: a subprocess, a real database,
and a local sink as the shop's order system."""

import json
import os
import subprocess
import sys

import psycopg
import pytest
from psycopg.rows import dict_row
from zaps.testing.sink import Sink

SECRET = "webhook-secret-not-to-be-printed"  # a secret setting that also sits in the target's URL
ORDERS = f"/orders/{SECRET}"  # the path carries the secret: the report must not print it
BIG = {"id": "A-1", "total": 250, "customer": "Ada"}


@pytest.fixture
def sink():
    with Sink() as server:
        yield server


@pytest.fixture
def zaps_run(database_url, redis_url, sink, tmp_path):
    def run(*args, event=BIG, database=database_url):
        sample = tmp_path / "sample.json"
        sample.write_text(event if isinstance(event, str) else json.dumps(event))
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "ORDERS_WEBHOOK_SECRET": SECRET,
            "ORDERS_FORWARD_URL": sink.url + ORDERS,
            **({"REDIS_URL": redis_url} if redis_url else {}),
        }
        command = [sys.executable, "-m", "zaps.cli", "run", "test.big-orders", "--event", str(sample), *args]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert SECRET not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return result

    return run


def database(database_url, query, *params):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def test_a_trial_sends_once_and_is_in_the_history_as_a_trial(zaps_run, sink, database_url):
    result = zaps_run()
    assert result.returncode == 0, result.stderr
    assert len(sink.to(ORDERS)) == 1
    assert "step forward-order: succeeded" in result.stdout
    assert '"order_id": "A-1"' in result.stdout  # what it sent
    (run,) = database(
        database_url, "SELECT r.*, e.source, e.headers FROM zaps_run r JOIN zaps_event e ON e.id = r.event_id"
    )
    assert (run["status"], run["source"], run["headers"]) == (
        "succeeded",
        "trial:test.big-orders",
        {"zaps-trial": "send"},
    )
    assert [row["status"] for row in database(database_url, "SELECT status FROM zaps_ledger")] == ["succeeded"]


def test_a_dry_run_sends_nothing_and_leaves_the_ledger_alone(zaps_run, sink, database_url):
    result = zaps_run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert sink.requests == []
    assert "step forward-order: would_send" in result.stdout
    assert "would send: " in result.stdout and "nothing was sent" in result.stdout
    assert database(database_url, "SELECT * FROM zaps_ledger") == []
    (step,) = database(database_url, "SELECT status, output FROM zaps_step")
    assert step["status"] == "would_send" and step["output"]["shadow"] is True


def test_a_failing_run_exits_non_zero_with_its_error_and_raises_no_alert(zaps_run, sink, database_url):
    sink.script(400, path=ORDERS)
    result = zaps_run()
    assert result.returncode == 1
    assert "the run is dead" in result.stderr and "400" in result.stderr
    (run,) = database(database_url, "SELECT status, alert_pending, attempts FROM zaps_run")
    assert (run["status"], run["alert_pending"], run["attempts"]) == ("dead", False, 1)


def test_a_filtered_order_is_not_a_failure(zaps_run, sink):
    result = zaps_run(event={"id": "A-2", "total": 20})
    assert result.returncode == 0, result.stderr
    assert "Run filtered" in result.stdout and "total 20 is under 100" in result.stdout
    assert sink.requests == []


@pytest.mark.parametrize(
    ("event", "said"),
    [("{not json", "is not JSON: Expecting property name"), ("", "is not JSON: Expecting value at line 1")],
)
def test_a_bad_event_file_is_a_clear_error(zaps_run, database_url, event, said):
    result = zaps_run(event=event)
    assert result.returncode == 2
    assert said in result.stderr
    assert database(database_url, "SELECT * FROM zaps_event") == []


def test_a_missing_file_or_automation_is_a_clear_error(database_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "test"}
    missing = subprocess.run(
        [sys.executable, "-m", "zaps.cli", "run", "test.big-orders", "--event", str(tmp_path / "none.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        f"zaps run: cannot read {tmp_path / 'none.json'}: No such file or directory",
    )
    (tmp_path / "sample.json").write_text("{}")
    unknown = subprocess.run(
        [sys.executable, "-m", "zaps.cli", "run", "test.big-order", "--event", str(tmp_path / "sample.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2
    assert "no automation 'test.big-order' in the test service; it has: test.big-orders" in unknown.stderr


@pytest.fixture
def empty_database_url(postgres_admin_url):
    """A database nothing has migrated yet: a new user's first command, before `make dev` ever ran."""
    from zaps.testing.databases import drop_database, with_database

    name = f"zaps_trial_empty_{os.getpid()}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(postgres_admin_url, name)
    drop_database(postgres_admin_url, name)


def test_a_first_trial_on_a_database_nothing_migrated_migrates_it_and_runs(zaps_run, sink, empty_database_url):
    result = zaps_run("--dry-run", database=empty_database_url)

    assert result.returncode == 0, result.stderr
    assert "would_send" in result.stdout
    assert sink.requests == []
