"""Health routes every service gets: liveness (no I/O) and readiness (database and Redis, each with its latency)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from zaps import cache
from zaps.context import RuntimeDep

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
        return {"name": name, "ok": False, "error": reason}
    return {"name": name, "ok": True, "latency_ms": round(latency, 2)}


@router.get(
    "/health/ready",
    summary="Readiness: the database and Redis answer",
    responses={503: {"description": "A dependency failed; `failed` names it"}},
)
async def ready(runtime: RuntimeDep) -> JSONResponse:
    checks = await asyncio.gather(
        _check("database", runtime.database.ping(timeout=CHECK_TIMEOUT_S)),
        _check("redis", cache.ping(runtime.redis)),
        *(_check(name, probe()) for name, probe in runtime.service.readiness_checks.items()),
    )
    failed = [check["name"] for check in checks if not check["ok"]]
    body = {
        "status": "unavailable" if failed else "ready",
        "failed": failed,
        "checks": {check.pop("name"): check for check in checks},
    }
    return JSONResponse(body, status_code=503 if failed else 200)
