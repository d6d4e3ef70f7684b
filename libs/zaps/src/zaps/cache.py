"""Redis: cache and short-lived locks only. Nothing durable lives here, so an in-memory stand-in is a fine default."""

from __future__ import annotations

import time

import redis.asyncio as redis


def create_redis(url: str | None) -> redis.Redis:
    """A real client for `url`, or, where no Redis is configured, fakeredis in this process (same interface)."""
    if url:
        return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30)
    try:
        import fakeredis
    except ImportError as missing:  # production images leave the development group out
        raise RuntimeError("REDIS_URL is not set, and the in-memory stand-in is for development only") from missing

    return fakeredis.FakeAsyncRedis()


def describe(client: redis.Redis) -> str:
    return "in-memory stand-in" if type(client).__module__.startswith("fakeredis") else "redis"


async def ping(client: redis.Redis) -> float:
    """Round trip PING; returns the latency in milliseconds or raises."""
    started = time.perf_counter()
    await client.ping()
    return (time.perf_counter() - started) * 1000
