"""Timeouts, forced for real: a hung handler ends at its automation's timeout, frees its worker (another run goes
on in the same single-slot worker process) and is retried; a step cut off after its request left is unsure and
follows its rule; one cut off before a connection was made is retried as not done; a hung scheduled run does not
hold back the next tick. And the per-automation retry schedule as the engine applies it, read from the database."""

import asyncio
import re
from pathlib import Path

import httpx
import pytest
import timeouts_service
from helpers import query, runs_of
from stalls import Silent, Unconnectable
from timeouts_service import TimeoutSettings, service
from zaps.testing.apps import running, server_process
from zaps.testing.waiting import eventually, sync_eventually

HERE = Path(__file__).parent
DOCS = Path(__file__).parents[4] / "docs" / "automations.md"
PREFIX = "/api/timeouttest"
AUTH = {"Authorization": "Bearer timeout-hook-token-0123456789"}


@pytest.fixture
def settings(make_settings, sink):
    def build(**overrides):
        values = {"target_url": sink.url, "crm_url": sink.url + "/crm", "tick_interval_s": 0.1}
        return make_settings(TimeoutSettings, **{**values, **overrides})

    return build


async def runs_when(database_url, automation, done, timeout=30):
    return await eventually(
        lambda: asyncio.to_thread(runs_of, database_url, automation),
        lambda runs: bool(runs) and done(runs),
        timeout=timeout,
    )


def attempts_of(database_url, run_id):
    return query(database_url, "SELECT number, outcome, error FROM zaps_attempt WHERE run_id = %s ORDER BY id", run_id)


def steps_of(database_url, run_id):
    return query(database_url, "SELECT attempt, status, error FROM zaps_step WHERE run_id = %s ORDER BY id", run_id)


def test_a_hung_handler_frees_its_single_worker_slot_and_is_retried(database_url, sink):
    env = {
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(HERE),
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "PATH_PREFIX": PREFIX,
        "TARGET_URL": sink.url,
        "WORKER_CONCURRENCY": "1",  # one run at a time: the hung one holds the only slot until its timeout
        "TICK_INTERVAL_S": "0.1",
    }
    with server_process("timeouts_service:service", env) as server:
        base = server["base_url"] + PREFIX
        assert httpx.post(f"{base}/hooks/hangs", json={"hang": True}, headers=AUTH).status_code == 202
        sync_eventually(lambda: runs_of(database_url, "timeouttest.hangs"), lambda r: r and r[0]["status"] == "running")
        assert httpx.post(f"{base}/hooks/quick", json={"n": 1}, headers=AUTH).status_code == 202
        (hung,) = sync_eventually(
            lambda: runs_of(database_url, "timeouttest.hangs"), lambda r: r[0]["status"] == "succeeded", timeout=30
        )
        (other,) = sync_eventually(
            lambda: runs_of(database_url, "timeouttest.quick"), lambda r: r[0]["status"] == "succeeded", timeout=30
        )
    first, second = attempts_of(database_url, hung["id"])
    assert (first["number"], first["outcome"], second["outcome"]) == (1, "retrying", "succeeded")
    assert "HandlerTimeout" in first["error"] and "1 s (the automation's timeout)" in first["error"]
    # The other run got the only slot once the hung try had ended, not after the hung run as a whole.
    (ended,) = query(database_url, "SELECT finished_at FROM zaps_attempt WHERE run_id = %s AND number = 1", hung["id"])
    assert other["started_at"] >= ended["finished_at"]
    assert len(sink.to("/hangs")) == 1 and len(sink.to("/quick")) == 1


async def test_a_handler_that_swallows_its_cancellation_is_left_and_its_try_still_ends(settings, database_url):
    timeouts_service.STUBBORN_ENDED.clear()
    async with running(service.create_app(settings())) as client:
        await client.post(f"{PREFIX}/hooks/stubborn", json={}, headers=AUTH)
        (run,) = await runs_when(database_url, "timeouttest.stubborn", lambda r: r[0]["status"] == "dead")
        assert timeouts_service.STUBBORN_ENDED == []  # the run ended while its handler still went on
        await eventually(lambda: asyncio.sleep(0, timeouts_service.STUBBORN_ENDED), bool)  # it ends by itself
    (attempt,) = attempts_of(database_url, run["id"])
    assert attempt["outcome"] == "dead" and "HandlerTimeout" in attempt["error"]


async def test_a_hung_scheduled_run_does_not_hold_back_the_next_tick(settings, database_url):
    async with running(service.create_app(settings(tick_cron="* * * * * *"))):
        await eventually(
            lambda: asyncio.to_thread(
                query,
                database_url,
                "SELECT 1 FROM zaps_tick WHERE automation = 'timeouttest.hung-schedule' AND outcome = 'fired'",
            ),
            lambda fired: len(fired) >= 3,
            timeout=30,
        )
    runs = runs_of(database_url, "timeouttest.hung-schedule")
    first = runs[0]
    assert first["status"] == "retrying" and "HandlerTimeout" in first["error"]  # its next try is an hour away


async def test_a_step_timed_out_after_sending_is_unsure_and_held_by_its_rule(settings, database_url):
    with Silent() as crm:
        async with running(service.create_app(settings(crm_url=crm.url))) as client:
            await client.post(f"{PREFIX}/hooks/push-contact", json={"email": "ada@example.com"}, headers=AUTH)
            (run,) = await runs_when(
                database_url,
                "timeouttest.push-contact",
                lambda r: r[0]["status"] != "queued" and r[0]["status"] != "running",
            )
    assert run["status"] == "needs_review"
    assert len(crm.keys) == 1  # taken once, never answered, never sent again
    (step,) = steps_of(database_url, run["id"])
    assert step["status"] == "unsure"
    assert "timed out after 3 s after its request was sent" in step["error"]
    (entry,) = query(database_url, "SELECT status FROM zaps_ledger WHERE automation = 'timeouttest.push-contact'")
    assert entry["status"] == "unsure"


async def test_resend_after_a_step_timeout_sends_again_with_the_same_key(settings, database_url):
    with Silent() as crm:
        async with running(service.create_app(settings(crm_url=crm.url))) as client:
            await client.post(f"{PREFIX}/hooks/resend-crm", json={"email": "bob@example.com"}, headers=AUTH)
            (run,) = await runs_when(database_url, "timeouttest.resend-crm", lambda r: r[0]["status"] == "dead")
            keys = list(crm.keys)
    assert len(keys) == 3 and len(set(keys)) == 1  # one per try, each with the step's one key
    assert {s["status"] for s in steps_of(database_url, run["id"])} == {"unsure"}


async def test_run_http_timed_out_after_sending_is_held_by_its_default_rule(settings, database_url):
    with Silent() as crm:
        async with running(service.create_app(settings(crm_url=crm.url))) as client:
            await client.post(f"{PREFIX}/hooks/http-crm", json={"email": "cy@example.com"}, headers=AUTH)
            (run,) = await runs_when(database_url, "timeouttest.http-crm", lambda r: r[0]["status"] == "needs_review")
    assert len(crm.keys) == 1
    assert [s["status"] for s in steps_of(database_url, run["id"])] == ["unsure"]


async def test_a_step_that_never_connected_is_not_done_and_retried(settings, database_url):
    with Unconnectable() as crm:
        async with running(service.create_app(settings(crm_url=crm.url))) as client:
            await client.post(f"{PREFIX}/hooks/resend-crm", json={"email": "eve@example.com"}, headers=AUTH)
            (run,) = await runs_when(database_url, "timeouttest.resend-crm", lambda r: r[0]["status"] == "dead")
    steps = steps_of(database_url, run["id"])
    assert [s["status"] for s in steps] == ["failed", "failed", "failed"]  # never unsure: nothing had left
    assert run["attempts"] == 3
    (entry,) = query(database_url, "SELECT status, tries FROM zaps_ledger WHERE automation = 'timeouttest.resend-crm'")
    assert (entry["status"], entry["tries"]) == ("not_done", 3)


async def test_the_automation_s_own_schedule_sets_the_next_try(settings, database_url, sink):
    sink.script(503, path="/crm")
    async with running(service.create_app(settings())) as client:
        await client.post(f"{PREFIX}/hooks/push-contact", json={"email": "ida@example.com"}, headers=AUTH)
        (run,) = await runs_when(database_url, "timeouttest.push-contact", lambda r: r[0]["status"] == "retrying")
    (attempt,) = query(database_url, "SELECT finished_at FROM zaps_attempt WHERE run_id = %s", run["id"])
    waits = (run["next_attempt_at"] - attempt["finished_at"]).total_seconds()
    assert 9.9 <= waits <= 12.1  # the example's first delay, 10 s, plus at most 20 % of jitter
    (job,) = query(
        database_url,
        "SELECT scheduled_at FROM procrastinate_jobs WHERE (args ->> 'run_id')::bigint = %s AND status = 'todo'",
        run["id"],
    )
    assert abs((job["scheduled_at"] - run["next_attempt_at"]).total_seconds()) < 1  # the queue holds the same time


def test_the_docs_show_the_worked_example_as_it_is():
    source = (HERE / "timeouts_service.py").read_text()
    example = source.split("# --- the worked example ")[1].split("\n", 1)[1].split("\n\n# --- the end")[0].strip()
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert any(example in block for block in blocks)
