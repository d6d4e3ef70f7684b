"""Inspect and replay runs from the admin JSON API (bearer token) and from the `zaps runs` command."""

import asyncio
import os
import subprocess
import sys

from engine_service import service
from helpers import PREFIX, post_signed, runs_of
from zaps.testing.apps import running
from zaps.testing.waiting import eventually

TOKEN = "admin-token-for-tests-123"


async def make_dead_runs(client, database_url, sink, count):
    sink.script(*([400] * count), path="/deliver")  # the dead-run alert goes to the same sink
    for n in range(count):
        await post_signed(client, "forward", {"n": n})
    return await eventually(
        lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
        lambda runs: len(runs) == count and all(r["status"] == "dead" for r in runs),
    )


async def test_admin_api_needs_the_token(engine_settings):
    app = service.create_app(engine_settings(admin_token=TOKEN, run_worker=False))
    async with running(app) as client:
        missing = await client.get(f"{PREFIX}/admin/runs")
        wrong = await client.get(f"{PREFIX}/admin/runs", headers={"Authorization": "Bearer nope"})
        right = await client.get(f"{PREFIX}/admin/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert TOKEN not in missing.text + wrong.text


async def test_admin_api_lists_shows_and_replays_dead_runs(engine_settings, database_url, sink):
    app = service.create_app(engine_settings(admin_token=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with running(app) as client:
        dead = await make_dead_runs(client, database_url, sink, 3)
        listed = (await client.get(f"{PREFIX}/admin/runs?status=dead&since=1h&limit=2", headers=auth)).json()
        assert [r["id"] for r in listed["runs"]] == [dead[2]["id"], dead[1]["id"]]
        older = (
            await client.get(f"{PREFIX}/admin/runs?status=dead&before_id={listed['next_before_id']}", headers=auth)
        ).json()
        assert [r["id"] for r in older["runs"]] == [dead[0]["id"]]
        shown = (await client.get(f"{PREFIX}/admin/runs/{dead[0]['id']}", headers=auth)).json()
        assert shown["event"]["payload"] == {"n": 0}
        assert shown["attempt_log"][0]["outcome"] == "dead"
        assert shown["steps"][0]["name"] == "deliver"
        bad_since = await client.get(f"{PREFIX}/admin/runs?since=yesterday", headers=auth)
        assert bad_since.status_code == 422 and "not a duration" in bad_since.text

        replay = await client.post(
            f"{PREFIX}/admin/runs/replay",
            headers=auth,
            json={"automation": "enginetest.forward", "status": "dead", "since": "24h"},
        )
        assert replay.json()["queued"] == sorted(r["id"] for r in dead)
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: all(r["status"] == "succeeded" for r in runs),
        )
        again = await client.post(f"{PREFIX}/admin/runs/replay", headers=auth, json={"run_ids": [dead[0]["id"], 999]})
    assert again.json()["refused"] == {"999": "no such run"}
    assert len(sink.applied("/deliver")) == 3


async def test_pause_stores_events_and_resume_runs_them(engine_settings, database_url, sink):
    app = service.create_app(engine_settings(admin_token=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with running(app) as client:
        paused = await client.post(f"{PREFIX}/admin/automations/enginetest.forward/pause", headers=auth)
        assert paused.json()["paused"] is True
        await post_signed(client, "forward", {"n": 1})
        await asyncio.sleep(0.5)
        assert [r["status"] for r in runs_of(database_url, "enginetest.forward")] == ["paused"]
        assert sink.to("/deliver") == []
        resumed = await client.post(f"{PREFIX}/admin/automations/enginetest.forward/resume", headers=auth)
        assert resumed.json()["queued"] == 1
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: runs[0]["status"] == "succeeded",
        )
        missing = await client.post(f"{PREFIX}/admin/automations/nope/pause", headers=auth)
    assert missing.status_code == 404
    assert len(sink.to("/deliver")) == 1


def zaps(database_url, *args):
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "zaps.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_the_runs_command_lists_shows_and_replays(engine_settings, database_url, sink):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        dead = await make_dead_runs(client, database_url, sink, 2)

        listing = await asyncio.to_thread(zaps, database_url, "runs", "list", "--status", "dead")
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.count("dead") == 2
        assert "enginetest.forward" in listing.stdout

        shown = await asyncio.to_thread(zaps, database_url, "runs", "show", str(dead[0]["id"]))
        assert shown.stdout.startswith(f"Run {dead[0]['id']}   enginetest.forward   dead\n")
        raw = await asyncio.to_thread(zaps, database_url, "runs", "show", "--json", str(dead[0]["id"]))
        assert '"status": "dead"' in raw.stdout

        one = await asyncio.to_thread(zaps, database_url, "runs", "replay", str(dead[0]["id"]))
        assert one.stdout.startswith("queued 1 run(s)")
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: runs[0]["status"] == "succeeded",
        )
        bulk = await asyncio.to_thread(
            zaps,
            database_url,
            "runs",
            "replay",
            "--automation",
            "enginetest.forward",
            "--status",
            "dead",
            "--since",
            "24h",
        )
        assert bulk.stdout.startswith("queued 1 run(s)")
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: all(r["status"] == "succeeded" for r in runs),
        )
        missing = await asyncio.to_thread(zaps, database_url, "runs", "show", "987654")
        bad_since = await asyncio.to_thread(zaps, database_url, "runs", "list", "--since", "3x")
    assert missing.returncode == 1
    assert bad_since.returncode == 2 and "not a duration" in bad_since.stderr and "Traceback" not in bad_since.stderr


async def test_the_runs_command_refuses_out_of_range_input_with_a_usage_error(database_url):
    cases = [
        (("runs", "list", "--since", "999999999d"), "--since"),
        (("runs", "replay", "--automation", "a", "--since", "99999999999999999999w"), "--since"),
        (("runs", "list", "--limit", "99999999999999999999"), "--limit"),
        (("runs", "show", "99999999999999999999"), "run_id"),
        (("runs", "replay", "-5"), "run_ids"),
    ]
    for args, named in cases:
        answer = await asyncio.to_thread(zaps, database_url, *args)
        assert answer.returncode == 2, (args, answer.stderr)
        assert named in answer.stderr and "Traceback" not in answer.stderr, (args, answer.stderr)


async def test_the_admin_api_answers_bad_input_with_a_4xx_naming_the_field(engine_settings):
    app = service.create_app(engine_settings(admin_token=TOKEN, run_worker=False))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with running(app) as client:
        answers = {
            "automation": await client.get(f"{PREFIX}/admin/runs", params={"automation": "a\x00b"}, headers=auth),
            "since": await client.get(f"{PREFIX}/admin/runs", params={"since": "999999999d"}, headers=auth),
            " since": await client.get(
                f"{PREFIX}/admin/runs", params={"since": "0001-01-01T00:00:00+14:00"}, headers=auth
            ),
            "body automation": await client.post(
                f"{PREFIX}/admin/runs/replay", json={"automation": "\x00"}, headers=auth
            ),
            "body since": await client.post(
                f"{PREFIX}/admin/runs/replay", json={"automation": "a", "since": "999999999d"}, headers=auth
            ),
            "run_ids": await client.post(f"{PREFIX}/admin/runs/replay", json={"run_ids": [2**70]}, headers=auth),
            "name": await client.post(f"{PREFIX}/admin/automations/a%00b/pause", headers=auth),
        }
    for case, answer in answers.items():
        assert answer.status_code == 422, (case, answer.text)
        field = case.split()[-1]
        assert any(field in detail["loc"] for detail in answer.json()["error"]["details"]), (case, answer.text)
