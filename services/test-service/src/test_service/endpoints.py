"""Routes that prove each shared part works: a database round trip, a Redis round trip, the scheduler."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from zaps.context import DatabaseDep, RedisDep, RuntimeDep
from zaps.scheduler import describe_timers

from test_service import repository

router = APIRouter(tags=["probes"])
logger = logging.getLogger(__name__)


@router.get("/db", summary="Write a row and read it back")
async def db_round_trip(database: DatabaseDep, runtime: RuntimeDep) -> dict[str, Any]:
    started = time.perf_counter()
    async with database.connection() as conn:
        probe_id = await repository.write_probe(conn, runtime.settings.service_name)
        read = await repository.read_probe(conn, probe_id)
    latency = (time.perf_counter() - started) * 1000
    assert read is not None
    return {
        "status": "ok",
        "row_id": read.id,
        "written_at": read.created_at.isoformat(),
        "server_version": read.server_version,
        "latency_ms": round(latency, 2),
    }


_REDIS_DOWN: dict[int | str, dict[str, Any]] = {503: {"description": "Redis does not answer; retry later"}}


@router.get("/redis", summary="Set a key and get it back", responses=_REDIS_DOWN)
async def redis_round_trip(redis: RedisDep) -> dict[str, Any]:
    key = f"zaps:probe:{uuid.uuid4().hex}"
    value = uuid.uuid4().hex
    started = time.perf_counter()
    await redis.set(key, value, ex=60)
    read = await redis.get(key)
    await redis.delete(key)
    latency = (time.perf_counter() - started) * 1000
    got = read.decode() if isinstance(read, bytes) else read
    return {"status": "ok" if got == value else "mismatch", "latency_ms": round(latency, 2)}


@router.get("/scheduler", summary="Each schedule (and poll) with its last and next run")
async def scheduler(runtime: RuntimeDep) -> dict[str, Any]:
    """`automations`: the engine's schedules and polls that start automations (the heartbeat among them), each with
    its last tick and how it went."""
    return {"automations": await describe_timers(runtime)}


@router.post(
    "/sink",
    summary="Receive anything and say what arrived (the worked example's default target)",
    responses=_REDIS_DOWN,
)
async def sink(request: Request, redis: RedisDep) -> dict[str, Any]:
    body = await request.body()
    key = request.headers.get("idempotency-key", "")
    # Count each idempotency key once, as a careful receiver would; the count shows in the answer and the log.
    first_time = bool(await redis.set(f"zaps:sink:{key}", 1, nx=True, ex=86400)) if key else True
    logger.info("sink received", extra={"bytes": len(body), "idempotency_key": key, "first_time": first_time})
    return {"received_bytes": len(body), "idempotency_key": key, "first_time": first_time}
