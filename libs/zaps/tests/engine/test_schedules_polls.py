"""Schedules fire once per tick across replicas and never overlap; polls store their cursor in the same
transaction as the events they produced (or neither)."""

import asyncio
import itertools
from collections import Counter
from datetime import datetime

import engine_service
from engine_service import service
from helpers import query, runs_of
from zaps.testing.apps import running
from zaps.testing.waiting import eventually


async def test_a_schedule_fires_once_per_tick_across_two_replicas(engine_settings, database_url):
    settings = engine_settings(tick_cron="* * * * * *")
    async with running(service.create_app(settings)), running(service.create_app(settings)):
        await asyncio.sleep(4.5)
    ticks = query(database_url, "SELECT tick_at, outcome FROM zaps_tick WHERE automation = 'enginetest.ticking'")
    fired = [t["tick_at"] for t in ticks if t["outcome"] == "fired"]
    assert len(fired) >= 3
    events = query(database_url, "SELECT dedup_key, payload FROM zaps_event WHERE source = 'enginetest.ticking'")
    assert max(Counter(e["dedup_key"] for e in events).values()) == 1
    assert len(events) == len(fired)
    runs = runs_of(database_url, "enginetest.ticking")
    assert len(runs) == len(fired)
    # The tick is given in the schedule's own time zone.
    assert datetime.fromisoformat(events[0]["payload"]["tick"]).utcoffset().total_seconds() in (3600, 7200)


async def test_a_tick_that_finds_the_last_run_still_going_is_skipped_and_recorded(engine_settings, database_url):
    settings = engine_settings(tick_cron="* * * * * *", slow_seconds=2.5)
    async with running(service.create_app(settings)):
        await asyncio.sleep(4.5)
    outcomes = Counter(
        t["outcome"]
        for t in query(database_url, "SELECT outcome FROM zaps_tick WHERE automation = 'enginetest.ticking'")
    )
    assert outcomes["fired"] >= 1
    assert outcomes["skipped_overlap"] >= 1
    runs = runs_of(database_url, "enginetest.ticking")
    spans = sorted((r["started_at"], r["finished_at"]) for r in runs if r["finished_at"])
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # never two at once


async def test_a_poll_stores_new_records_once_and_moves_its_cursor(engine_settings, database_url, sink):
    engine_service.FEED[:] = [(1, {"kind": "item", "n": 1}), (2, {"kind": "other", "n": 2})]
    try:
        async with running(service.create_app(engine_settings(poll_every_s=0.2))):
            await eventually(
                lambda: asyncio.to_thread(runs_of, database_url, "enginetest.feed-items"),
                lambda runs: len(runs) == 1 and runs[0]["status"] == "succeeded",
            )
            engine_service.FEED.append((3, {"kind": "item", "n": 3}))
            await eventually(
                lambda: asyncio.to_thread(runs_of, database_url, "enginetest.feed-items"),
                lambda runs: len(runs) == 2 and runs[1]["status"] == "succeeded",
            )
            await asyncio.sleep(0.6)  # a few more polls that find nothing new
    finally:
        engine_service.FEED.clear()
    (timer,) = query(database_url, "SELECT cursor, last_ok_at FROM zaps_timer WHERE name = 'enginetest.feed'")
    assert timer["cursor"] == 3
    events = query(database_url, "SELECT dedup_key, kind FROM zaps_event WHERE source = 'enginetest.feed' ORDER BY id")
    assert [(e["dedup_key"], e["kind"]) for e in events] == [("1", "item"), ("2", "other"), ("3", "item")]
    assert [r.json["n"] for r in sink.to("/feed")] == [1, 3]  # the automation listens to "item" only


async def test_a_poll_whose_events_cannot_be_stored_keeps_its_old_cursor(engine_settings, database_url):
    # PostgreSQL refuses \u0000 in jsonb: the insert fails inside the poll's transaction, so nothing is stored and
    # the cursor stays where it was; the next poll fetches the same records again.
    engine_service.FEED[:] = [(1, {"kind": "item", "n": 1}), (2, {"kind": "item", "bad": "\u0000"})]
    try:
        async with running(service.create_app(engine_settings(poll_every_s=0.2))):
            await asyncio.sleep(1.0)
    finally:
        engine_service.FEED.clear()
    (timer,) = query(database_url, "SELECT cursor FROM zaps_timer WHERE name = 'enginetest.feed'")
    assert timer["cursor"] is None
    assert query(database_url, "SELECT count(*) AS n FROM zaps_event WHERE source = 'enginetest.feed'")[0]["n"] == 0


async def test_a_poll_over_the_event_limit_stores_nothing_and_says_why(engine_settings, database_url, monkeypatch):
    # Storing the first N events with the new cursor would lose the rest for good: the poll must fail whole.
    from zaps.engine import ticker

    monkeypatch.setattr(ticker, "MAX_POLL_EVENTS", 1)
    engine_service.FEED[:] = [(1, {"kind": "item", "n": 1}), (2, {"kind": "item", "n": 2})]
    try:
        async with running(service.create_app(engine_settings(poll_every_s=0.2))):
            await asyncio.sleep(1.0)
    finally:
        engine_service.FEED.clear()
    (timer,) = query(database_url, "SELECT cursor, last_error FROM zaps_timer WHERE name = 'enginetest.feed'")
    assert timer["cursor"] is None
    assert "2 events, over 1: nothing stored" in timer["last_error"]
    assert query(database_url, "SELECT count(*) AS n FROM zaps_event WHERE source = 'enginetest.feed'")[0]["n"] == 0
