"""test-service proves each shared part: health, readiness, database and Redis round trips, docs, scheduler."""

import asyncio

import psycopg
from psycopg.rows import dict_row
from test_service.service import service
from test_service.settings import Settings
from zaps.testing.apps import running
from zaps.testing.waiting import eventually


async def test_every_probe_answers(make_settings):
    app = service.create_app(make_settings(Settings, run_worker=False))
    async with running(app) as client:
        health = await client.get("/api/test/health")
        ready = await client.get("/api/test/health/ready")
        db = await client.get("/api/test/db")
        second = await client.get("/api/test/db")
        redis = await client.get("/api/test/redis")
        docs = await client.get("/api/test/docs")
        scheduler = await client.get("/api/test/scheduler")
    assert health.json()["status"] == "ok"
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"database", "redis"}
    assert all(check["latency_ms"] >= 0 for check in ready.json()["checks"].values())
    assert db.json()["status"] == "ok"
    assert second.json()["row_id"] == db.json()["row_id"] + 1
    assert db.json()["server_version"]
    assert redis.json()["status"] == "ok"
    assert docs.status_code == 200
    (heartbeat,) = scheduler.json()["automations"]
    assert (heartbeat["name"], heartbeat["kind"]) == ("test.heartbeat", "schedule")
    assert heartbeat["last_tick"] is None  # no worker, so no tick yet
    assert heartbeat["next_run"]


async def test_the_heartbeat_schedule_writes_a_row_per_tick(make_settings, database_url):
    app = service.create_app(make_settings(Settings, heartbeat_cron="* * * * * *", tick_interval_s=0.1))
    async with running(app) as client:
        heartbeat = await eventually(
            lambda: client.get("/api/test/scheduler"),
            lambda answer: (answer.json()["automations"][0]["last_tick"] or {}).get("outcome") == "fired",
        )
        rows = await eventually(lambda: asyncio.to_thread(heartbeat_rows, database_url), bool)
    assert heartbeat.json()["automations"][0]["last_ok"] is not None
    assert {row["service"] for row in rows} == {"test"}
    assert len({row["tick_at"] for row in rows}) == len(rows), "one row per tick"


def heartbeat_rows(database_url):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT service, tick_at FROM zaps_heartbeat WHERE job = 'heartbeat'").fetchall()


async def test_redis_down_is_a_503_naming_redis_not_a_500(make_settings):
    # Nothing listens on port 1: every Redis command fails to connect, as with Redis stopped.
    app = service.create_app(make_settings(Settings, run_worker=False, redis_url="redis://127.0.0.1:1/0"))
    async with running(app) as client:
        probe = await client.get("/api/test/redis")
        sink = await client.post("/api/test/sink", content=b"{}", headers={"idempotency-key": "k"})
        ready = await client.get("/api/test/health/ready")

    for answer in (probe, sink):
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "unavailable"
        assert "Redis" in answer.json()["error"]["message"]
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["redis"]
