"""What "once" means: a step whose try may have happened (a timeout after sending, a worker killed between the send
and the record) follows its rule. Forced for real, counted at a sink that does not deduplicate:
resend repeats only with the same key; check and hold deliver at most once; a held run is `needs_review`, listed,
alerted, and goes on after "send again" or "mark as done"."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from engine_service import service
from helpers import PREFIX, SECRET, post_signed, query, runs_of
from zaps import signing
from zaps.testing.apps import running, server_process
from zaps.testing.sink import Reply
from zaps.testing.waiting import eventually, sync_eventually

HERE = Path(__file__).parent
TOKEN = "admin-token-for-tests-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STALL = Reply(delay_s=2.0)  # the sink takes the request, then answers after the step's timeout (0.5 s)


async def settled_runs(database_url, automation, count, statuses=("succeeded", "dead", "needs_review")):
    return await eventually(
        lambda: asyncio.to_thread(runs_of, database_url, automation),
        lambda runs: len(runs) == count and all(r["status"] in statuses for r in runs),
        timeout=30,
    )


def keys(sink, path):
    return [r.headers["idempotency-key"] for r in sink.to(path)]


async def test_resend_after_a_timeout_repeats_only_with_the_same_key(engine_settings, database_url, sink):
    sink.script(STALL, path="/resend")
    app = service.create_app(engine_settings(action_timeout_s=0.5))
    async with running(app) as client:
        await post_signed(client, "unsure-resend", {"order": 1})
        (run,) = await settled_runs(database_url, "enginetest.unsure-resend", 1)
    assert run["status"] == "succeeded"
    delivered = keys(sink, "/resend")
    assert len(delivered) == 2  # the double is the rule's price ...
    assert len(set(delivered)) == 1  # ... and it carries the same Idempotency-Key, for the receiver to drop
    steps = query(database_url, "SELECT status FROM zaps_step WHERE run_id = %s ORDER BY id", run["id"])
    assert [s["status"] for s in steps] == ["unsure", "unsure", "succeeded"]


async def test_check_after_a_timeout_asks_the_target_and_does_not_send_again(engine_settings, database_url, sink):
    sink.script(STALL, path="/check")
    app = service.create_app(engine_settings(action_timeout_s=0.5))
    async with running(app) as client:
        await post_signed(client, "unsure-check", {"order": 2})
        (run,) = await settled_runs(database_url, "enginetest.unsure-check", 1)
    assert run["status"] == "succeeded"
    assert len(sink.to("/check")) == 1
    (entry,) = query(database_url, "SELECT status, resolution, tries FROM zaps_ledger WHERE step = 'deliver'")
    assert (entry["status"], entry["resolution"], entry["tries"]) == ("succeeded", "checked: done", 1)


async def test_a_target_that_answers_500_or_is_not_reachable_is_not_unsure(engine_settings, database_url, sink):
    sink.script(500, path="/check")
    app = service.create_app(engine_settings(action_timeout_s=0.5))
    async with running(app) as client:
        await post_signed(client, "unsure-check", {"order": 3})
        (run,) = await settled_runs(database_url, "enginetest.unsure-check", 1)
    assert run["status"] == "succeeded"
    assert len(sink.to("/check")) == 2  # refused, then taken: no check was needed, so none was made
    steps = query(database_url, "SELECT status FROM zaps_step WHERE run_id = %s ORDER BY id", run["id"])
    assert [s["status"] for s in steps] == ["failed", "succeeded"]


async def test_hold_stops_the_run_for_review_alerts_and_goes_on_when_told(engine_settings, database_url, sink):
    sink.script(STALL, STALL, path="/hold")
    app = service.create_app(engine_settings(action_timeout_s=0.5, admin_token=TOKEN))
    async with running(app) as client:
        await post_signed(client, "unsure-hold", {"order": 4})
        await post_signed(client, "unsure-hold", {"order": 5})
        held = await settled_runs(database_url, "enginetest.unsure-hold", 2)
        assert [r["status"] for r in held] == ["needs_review", "needs_review"]
        assert len(sink.to("/hold")) == 2  # one per order: held, never sent twice
        assert sink.to("/after") == []

        listed = await client.get(f"{PREFIX}/admin/runs", params={"status": "needs_review"}, headers=AUTH)
        assert sorted(r["id"] for r in listed.json()["runs"]) == [r["id"] for r in held]
        shown = (await client.get(f"{PREFIX}/admin/runs/{held[0]['id']}", headers=AUTH)).json()
        assert [s["step"] for s in shown["unsure_steps"]] == ["deliver"]
        (alert,) = await eventually(lambda: asyncio.to_thread(sink.to, "/alerts"), lambda got: len(got) == 1)
        assert alert.json["needs_review_ids"] == [r["id"] for r in held]
        assert "2 runs need review" in alert.json["text"]

        first, second = held
        again = await client.post(f"{PREFIX}/admin/runs/{first['id']}/send-again", headers=AUTH)
        assert again.status_code == 200
        done = await client.post(f"{PREFIX}/admin/runs/{second['id']}/mark-done", headers=AUTH)
        assert done.status_code == 200
        twice = await client.post(f"{PREFIX}/admin/runs/{second['id']}/mark-done", headers=AUTH)
        runs = await settled_runs(database_url, "enginetest.unsure-hold", 2, statuses=("succeeded",))
    assert twice.status_code == 409
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    by_order = {}
    for request in sink.to("/hold"):
        by_order.setdefault(request.json["order"], []).append(request.headers["idempotency-key"])
    assert len(by_order[4]) == 2 and len(set(by_order[4])) == 1  # sent again, as told, with the same key
    assert len(by_order[5]) == 1  # marked done: not sent again
    assert len(sink.to("/after")) == 2  # both runs went on past the held step


def zaps(database_url, *args):
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "zaps.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_worker_killed_between_send_and_record_leaves_the_step_unsure(database_url, sink):
    """SIGKILL while the sink holds the request: the step was sent, not recorded. The next worker follows each rule."""
    env = {
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(HERE),
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "PATH_PREFIX": "/api/enginetest",
        "TARGET_URL": sink.url,
        "WORKER_HEARTBEAT_S": "0.5",
        "STALLED_AFTER_S": "2",
        "HOUSEKEEPING_INTERVAL_S": "0.5",
        "TICK_INTERVAL_S": "0.1",
        "ACTION_TIMEOUT_S": "60",
    }
    automations = {"unsure-resend": "/resend", "unsure-check": "/check", "unsure-hold": "/hold"}
    for path in automations.values():
        sink.script(Reply(delay_s=30), path=path)
    with server_process("engine_service:service", env) as first:
        for automation in automations:
            body = json.dumps({"order": automation}).encode()
            answer = httpx.post(
                f"{first['base_url']}{PREFIX}/hooks/{automation}",
                content=body,
                headers={"content-type": "application/json", **signing.sign(SECRET, body)},
            )
            assert answer.status_code == 202
        for path in automations.values():
            sync_eventually(lambda path=path: sink.to(path), lambda got: len(got) == 1)
        os.kill(first["process"].pid, signal.SIGKILL)
        first["process"].wait()

    with server_process("engine_service:service", env):
        finished = {
            automation: sync_eventually(
                lambda automation=automation: runs_of(database_url, f"enginetest.{automation}"),
                lambda runs: runs[0]["status"] in ("succeeded", "needs_review", "dead"),
                timeout=40,
            )[0]
            for automation in automations
        }
        assert finished["unsure-resend"]["status"] == "succeeded"
        assert len(sink.to("/resend")) == 2 and len(set(keys(sink, "/resend"))) == 1
        assert finished["unsure-check"]["status"] == "succeeded"
        assert len(sink.to("/check")) == 1
        assert finished["unsure-hold"]["status"] == "needs_review"
        assert len(sink.to("/hold")) == 1

        held = finished["unsure-hold"]["id"]
        listed = zaps(database_url, "runs", "list", "--status", "needs_review", "--json")
        assert [r["id"] for r in json.loads(listed.stdout)] == [held]
        settled = zaps(database_url, "runs", "mark-done", str(held))
        assert settled.returncode == 0, settled.stdout + settled.stderr
        sync_eventually(
            lambda: runs_of(database_url, "enginetest.unsure-hold"),
            lambda runs: runs[0]["status"] == "succeeded",
            timeout=20,
        )
    assert len(sink.to("/hold")) == 1
    assert len(sink.to("/after")) == 1
    assert zaps(database_url, "runs", "send-again", str(held)).returncode == 1  # it is no longer held
