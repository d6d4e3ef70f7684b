"""Runs: filtered with a reason, retried with backoff on retryable failures only, dead after the last attempt
with one alert per window, replayed with the ledger so a done step is never sent twice."""

import asyncio

from engine_service import service
from helpers import post_signed, query, runs_of
from zaps.engine import repository
from zaps.testing.apps import running
from zaps.testing.sink import Reply
from zaps.testing.waiting import eventually


def settled(runs, count=1):
    return len(runs) == count and all(r["status"] in ("succeeded", "filtered", "dead") for r in runs)


async def wait_runs(database_url, automation, count=1):
    return await eventually(
        lambda: asyncio.to_thread(runs_of, database_url, automation), lambda runs: settled(runs, count), timeout=20
    )


async def test_a_filter_records_the_reason_and_sends_nothing(engine_settings, database_url, sink):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        await post_signed(client, "forward", {"skip": True})
        (run,) = await wait_runs(database_url, "enginetest.forward")
    assert run["status"] == "filtered"
    assert run["filter_reason"] == "asked to skip"
    assert sink.requests == []


async def test_a_target_answering_500_twice_then_200_gets_one_delivery(engine_settings, database_url, sink):
    sink.script(500, 500)
    app = service.create_app(engine_settings())
    async with running(app) as client:
        await post_signed(client, "forward", {"order": 7})
        (run,) = await wait_runs(database_url, "enginetest.forward")
    assert run["status"] == "succeeded"
    assert run["attempts"] == 3
    assert len(sink.to("/deliver")) == 3  # two refused, one accepted
    assert len(sink.applied("/deliver")) == 1  # all three carried the same Idempotency-Key
    attempts = query(database_url, "SELECT number, outcome FROM zaps_attempt WHERE run_id = %s ORDER BY id", run["id"])
    assert [(a["number"], a["outcome"]) for a in attempts] == [(1, "retrying"), (2, "retrying"), (3, "succeeded")]


async def test_retry_after_of_a_429_is_honoured(engine_settings, database_url, sink):
    sink.script(Reply(429, headers={"Retry-After": "2"}))
    app = service.create_app(engine_settings())
    async with running(app) as client:
        await post_signed(client, "forward", {"order": 8})
        await wait_runs(database_url, "enginetest.forward")
    first, second = sink.to("/deliver")
    assert second.at - first.at >= 2.0


async def test_a_permanent_error_is_dead_at_once_with_one_alert_per_window(engine_settings, database_url, sink):
    sink.script(400, 400, path="/deliver")
    app = service.create_app(engine_settings())
    async with running(app) as client:
        await post_signed(client, "forward", {"order": 9})
        await post_signed(client, "forward", {"order": 10})
        runs = await wait_runs(database_url, "enginetest.forward", count=2)
        await eventually(lambda: asyncio.sleep(0, sink.to("/alerts")), lambda alerts: len(alerts) >= 1)
        await asyncio.sleep(0.3)
    assert [r["status"] for r in runs] == ["dead", "dead"]
    assert [r["attempts"] for r in runs] == [1, 1]
    assert "PermanentError" in runs[0]["error"]
    (alert,) = sink.to("/alerts")  # two dead runs, one window: one alert
    assert alert.json["automation"] == "enginetest.forward"
    assert alert.json["kind"] == "dead_run"


async def test_dead_after_the_last_attempt_then_replay_delivers_exactly_once(engine_settings, database_url, sink):
    sink.script(503, 503, 503, path="/deliver")
    app = service.create_app(engine_settings())
    async with running(app) as client:
        await post_signed(client, "forward", {"order": 11})
        (run,) = await wait_runs(database_url, "enginetest.forward")
        assert (run["status"], run["attempts"]) == ("dead", 3)
        assert len(sink.applied("/deliver")) == 1 and len(sink.to("/deliver")) == 3

        async with app.state.runtime.database.connection() as conn:
            replayed = await repository.replay(conn, [run["id"]])
        assert replayed.queued == [run["id"]]
        (run,) = await wait_runs(database_url, "enginetest.forward")
    assert run["status"] == "succeeded"
    assert len(sink.to("/deliver")) == 4
    assert len(sink.applied("/deliver")) == 1  # four requests, one Idempotency-Key: one effect
    log = query(database_url, "SELECT outcome FROM zaps_attempt WHERE run_id = %s ORDER BY id", run["id"])
    assert [a["outcome"] for a in log] == ["retrying", "retrying", "dead", "replayed", "succeeded"]


async def test_replaying_a_succeeded_run_reuses_the_ledger_and_sends_nothing(engine_settings, database_url, sink):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        await post_signed(client, "two-steps", {"order": 12})
        (run,) = await wait_runs(database_url, "enginetest.two-steps")
        async with app.state.runtime.database.connection() as conn:
            await repository.replay(conn, [run["id"]])
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.two-steps"),
            lambda runs: (
                runs[0]["status"] == "succeeded"
                and runs[0]["attempts"] == 1
                and len(query(database_url, "SELECT 1 FROM zaps_step WHERE run_id = %s", run["id"])) == 4
            ),
        )
    assert len(sink.to("/first")) == 1 and len(sink.to("/second")) == 1
    steps = query(database_url, "SELECT name, status FROM zaps_step WHERE run_id = %s ORDER BY id", run["id"])
    assert [(s["name"], s["status"]) for s in steps] == [
        ("first", "succeeded"),
        ("second", "succeeded"),
        ("first", "reused"),
        ("second", "reused"),
    ]


async def test_a_retry_skips_the_steps_that_already_succeeded(engine_settings, database_url, sink):
    sink.script(200, 500)  # /first succeeds, /second fails once
    app = service.create_app(engine_settings())
    async with running(app) as client:
        await post_signed(client, "two-steps", {"order": 13})
        (run,) = await wait_runs(database_url, "enginetest.two-steps")
    assert run["status"] == "succeeded"
    assert len(sink.to("/first")) == 1
    assert len(sink.to("/second")) == 2


async def test_two_workers_at_once_run_each_event_once(engine_settings, database_url, sink):
    first = service.create_app(engine_settings(worker_concurrency=5))
    second = service.create_app(engine_settings(worker_concurrency=5))
    async with running(first) as client, running(second):
        for n in range(30):
            await post_signed(client, "two-steps", {"n": n})
        await wait_runs(database_url, "enginetest.two-steps", count=30)
    assert len(sink.to("/first")) == 30
    assert len(sink.to("/second")) == 30
    assert len(sink.applied("/second")) == 30
