"""test-service proves each shared part: health, readiness, database and Redis round trips, docs, scheduler."""

from test_service.service import service
from test_service.settings import Settings
from zaps.testing.apps import running


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
    (job,) = scheduler.json()["jobs"]
    assert job["name"] == "heartbeat"
    assert job["cron"] == "* * * * *"
    assert job["next_run"]


async def test_scheduler_shows_the_last_run_once_the_worker_ran_a_tick(make_settings):
    app = service.create_app(make_settings(Settings, heartbeat_cron="* * * * * *"))
    async with running(app) as client:
        import asyncio

        for _ in range(50):
            job = (await client.get("/api/test/scheduler")).json()["jobs"][0]
            if job["last_run"] and job["last_run"]["status"] == "succeeded":
                break
            await asyncio.sleep(0.1)
    assert job["last_run"]["status"] == "succeeded"
    assert job["last_run"]["finished_at"] is not None


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
