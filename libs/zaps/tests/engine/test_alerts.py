"""Alerts that arrive: one dead-run alert per window lists every dead run (count, ids, console links); a failed
send is tried again with growing pauses and the same idempotency key; an alert that cannot be delivered at all
says so in the log. Against the real local sink."""

import asyncio
import json

from engine_service import service
from helpers import post_signed, query, runs_of
from zaps.testing.apps import running
from zaps.testing.waiting import eventually

CONSOLE = "https://zaps.example/console"


async def make_dead_runs(client, database_url, sink, count):
    sink.script(*([400] * count), path="/deliver")
    for n in range(count):
        await post_signed(client, "forward", {"order": n})
    runs = await eventually(
        lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
        lambda runs: len(runs) == count and all(r["status"] == "dead" for r in runs),
    )
    return [r["id"] for r in runs]


async def test_one_alert_per_window_lists_every_dead_run_with_console_links(engine_settings, database_url, sink):
    # Long enough for the ten to die first, as a burst of failures would.
    app = service.create_app(engine_settings(console_url=CONSOLE, alert_gather_s=3))
    async with running(app) as client:
        dead = await make_dead_runs(client, database_url, sink, 10)
        await eventually(lambda: asyncio.sleep(0, sink.to("/alerts")), lambda alerts: len(alerts) >= 1, timeout=20)
        await asyncio.sleep(1.5)  # a few more housekeeping passes: no second alert in this window
    (alert,) = sink.to("/alerts")
    body = alert.json
    assert body["kind"] == "dead_run" and body["automation"] == "enginetest.forward"
    assert body["count"] == 10
    assert body["run_ids"] == sorted(dead)
    assert f"{CONSOLE}/runs/{dead[0]}" in body["links"]
    assert body["runs_url"] == f"{CONSOLE}/runs?automation=enginetest.forward&status=dead"
    assert body["text"].startswith("Zaps: 10 dead runs of enginetest.forward: ")
    assert all(str(run_id) in body["text"] for run_id in dead)
    assert query(database_url, "SELECT count(*) AS n FROM zaps_run WHERE alert_pending")[0]["n"] == 0


async def test_a_dead_run_after_its_window_s_alert_waits_for_the_next_window(engine_settings, database_url, sink):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        (first,) = await make_dead_runs(client, database_url, sink, 1)
        await eventually(lambda: asyncio.sleep(0, sink.to("/alerts")), lambda alerts: len(alerts) == 1)
        sink.script(400, path="/deliver")
        await post_signed(client, "forward", {"order": "late"})
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: len(runs) == 2 and runs[1]["status"] == "dead",
        )
        await asyncio.sleep(1.5)
    assert len(sink.to("/alerts")) == 1
    (waiting,) = query(database_url, "SELECT id FROM zaps_run WHERE alert_pending")
    assert waiting["id"] != first


async def test_a_failed_alert_is_sent_again_with_growing_pauses_and_the_same_key(engine_settings, database_url, sink):
    sink.script(500, 503, path="/alerts")
    app = service.create_app(engine_settings(alert_retry_first_s=0.5))
    async with running(app) as client:
        await make_dead_runs(client, database_url, sink, 1)
        tries = await eventually(
            lambda: asyncio.sleep(0, sink.to("/alerts")), lambda alerts: len(alerts) == 3, timeout=20
        )
        # The third try reached the sink before its delivery was recorded: wait for the record, not only the sink.
        await eventually(
            lambda: asyncio.to_thread(query, database_url, "SELECT delivered_at FROM zaps_alert"),
            lambda rows: bool(rows) and rows[0]["delivered_at"] is not None,
            timeout=10,
        )
    (row,) = query(database_url, "SELECT attempts, delivered_at, given_up_at, delivery_error FROM zaps_alert")
    assert row["attempts"] == 3 and row["delivered_at"] is not None and row["given_up_at"] is None
    assert row["delivery_error"] is None
    assert len({t.headers["idempotency-key"] for t in tries}) == 1
    first_pause, second_pause = tries[1].at - tries[0].at, tries[2].at - tries[1].at
    assert first_pause >= 0.5
    assert second_pause >= 1.0  # twice the first pause


async def test_an_alert_that_cannot_be_delivered_at_all_says_so_in_the_log(engine_settings, database_url, sink, capsys):
    sink.script(*([500] * 10), path="/alerts")
    app = service.create_app(engine_settings(alert_max_attempts=3))
    async with running(app) as client:
        await make_dead_runs(client, database_url, sink, 1)
        await eventually(
            lambda: asyncio.to_thread(query, database_url, "SELECT given_up_at FROM zaps_alert"),
            lambda rows: bool(rows) and rows[0]["given_up_at"] is not None,
            timeout=20,
        )
    assert len(sink.to("/alerts")) == 3
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    gave_up = [line for line in logged if line["msg"] == "alert could not be delivered at all; giving up"]
    assert len(gave_up) == 1
    assert gave_up[0]["level"] == "error"
    assert gave_up[0]["automation"] == "enginetest.forward" and gave_up[0]["attempts"] == 3
