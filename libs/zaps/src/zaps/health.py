"""Health routes every service gets: liveness (no I/O) and readiness (database and Redis, each with its latency)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from zaps import cache, health_repository
from zaps.context import Runtime, RuntimeDep
from zaps.settings import ZapsSettings

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


@router.get("/health", summary="Liveness: the process answers (no I/O)")
async def health(runtime: RuntimeDep) -> dict[str, str]:
    return {
        "status": "ok",
        "service": runtime.settings.service_name,
        "version": runtime.settings.code_version,
    }


async def _check(name: str, probe: Any) -> dict[str, Any]:
    try:
        latency = await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT_S)
    except Exception as error:  # every failure counts as "not ready", and its kind is reported
        reason = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
        if isinstance(error, StalledPolls):
            reason = f"stalled: {error}"
        return {"name": name, "ok": False, "error": reason}
    return {"name": name, "ok": True, "latency_ms": round(latency, 2)}


class StalledPolls(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))


async def polls_fresh(runtime: Runtime[ZapsSettings]) -> float:
    """Each poller has succeeded within three of its intervals (or since this process started)."""
    started = time.perf_counter()
    stalled = []
    async with runtime.database.connection(timeout=CHECK_TIMEOUT_S) as conn:
        for poller in runtime.service.pollers.values():
            allowed = 3 * poller.interval(runtime.settings)
            age = await health_repository.seconds_since_poll_ok(conn, poller.source, default=runtime.started_at)
            if age is not None and age > allowed:
                stalled.append(poller.source)
    if stalled:
        raise StalledPolls(stalled)
    return (time.perf_counter() - started) * 1000


@router.get(
    "/health/ready",
    summary="Readiness: the database and Redis answer",
    responses={503: {"description": "A dependency failed; `failed` names it"}},
)
async def ready(runtime: RuntimeDep) -> JSONResponse:
    probes = [
        _check("database", runtime.database.ping(timeout=CHECK_TIMEOUT_S)),
        _check("redis", cache.ping(runtime.redis)),
    ]
    if runtime.service.pollers and runtime.settings.run_worker:
        probes.append(_check("polls", polls_fresh(runtime)))
    checks = await asyncio.gather(
        *probes,
        *(_check(name, probe()) for name, probe in runtime.service.readiness_checks.items()),
    )
    failed = [check["name"] for check in checks if not check["ok"]]
    body = {
        "status": "unavailable" if failed else "ready",
        "failed": failed,
        "checks": {check.pop("name"): check for check in checks},
    }
    return JSONResponse(body, status_code=503 if failed else 200)
