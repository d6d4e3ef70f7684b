"""With the database gone, liveness stays up and readiness names it; when it returns, readiness recovers without
a restart. Two processes of the service write each heartbeat tick once."""

import asyncio
import time
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from test_service.service import service
from test_service.settings import Settings
from zaps.testing.apps import running, server_process
from zaps.testing.proxy import TcpProxy


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{proxy.port}"))


@pytest.fixture
async def proxied_database_url(database_url):
    parts = urlsplit(database_url)
    if not parts.hostname or parts.hostname.startswith("/"):
        pytest.skip("the test PostgreSQL listens on a unix socket only; the proxy needs TCP")
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    await proxy.start()
    yield proxy, through(proxy, database_url)
    await proxy.stop()


async def test_readiness_follows_the_database_down_and_back(make_settings, proxied_database_url):
    proxy, url = proxied_database_url
    app = service.create_app(make_settings(Settings, database_url=url, run_worker=False))
    async with running(app) as client:
        assert (await client.get("/api/test/health/ready")).status_code == 200

        await proxy.stop()
        down = await client.get("/api/test/health/ready")
        assert down.status_code == 503
        assert down.json()["failed"] == ["database"]
        assert (await client.get("/api/test/health")).status_code == 200
        db_down = await client.get("/api/test/db")
        assert db_down.status_code == 503
        assert db_down.json()["error"]["code"] == "unavailable"

        await proxy.start()
        for _ in range(50):
            back = await client.get("/api/test/health/ready")
            if back.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert back.status_code == 200
        assert (await client.get("/api/test/db")).status_code == 200


def test_two_processes_write_each_heartbeat_tick_once(database_url, redis_url):
    env = {
        "DATABASE_URL": database_url,
        "HEARTBEAT_CRON": "* * * * * *",
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    with server_process("test", env), server_process("test", env):
        time.sleep(6)
        with psycopg.connect(database_url) as conn:
            (workers,) = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    assert workers == 2, "both processes must be running a worker (and so a ticker) meanwhile"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT tick_at, worker FROM zaps_heartbeat WHERE job = 'heartbeat'").fetchall()
    per_tick = Counter(tick for tick, _ in rows)
    assert len(per_tick) >= 4, f"expected a tick every second, got {sorted(per_tick)}"
    assert max(per_tick.values()) == 1, f"a tick was written twice: {per_tick}"
