"""The admin JSON API of a service: list and show runs, replay them, settle runs held for review (send again, mark
as done), pause and resume automations.

Guarded by `Authorization: Bearer <ADMIN_TOKEN>`. Mounted under each service's prefix at /admin; runs of every
service live in the one database, so any service's admin API sees them all.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from zaps import signing
from zaps.context import Runtime, RuntimeDep, get_runtime
from zaps.engine import operations, repository
from zaps.engine.statuses import RunStatus
from zaps.errors import Conflict, NotFound, Unauthorized
from zaps.settings import ZapsSettings

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None) -> datetime | None:
    """ "24h", "30m", "7d" (ago), or an ISO-8601 time."""
    if value is None or value == "":
        return None
    match = _DURATION.match(value.strip())
    if match:
        try:
            return datetime.now(UTC) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:  # e.g. 999999999d: before year 1, so before any run
            raise ValueError(f"{value.strip()!r} reaches back before the year 1") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a duration (24h, 30m, 7d) or an ISO time: {value!r}") from None
    try:
        # In UTC from here on: 0001-01-01T00:00+14:00 would overflow wherever it is shown or compared later.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is outside the years 1 to 9999 in UTC") from None


def refuse_nul(value: str | None) -> str | None:
    """PostgreSQL text cannot hold U+0000, so a value with one can match nothing: refused, naming the field."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character (\\u0000)")
    return value


def _valid_since(value: str | None) -> str | None:
    parse_since(value)  # a ValueError here is a 422 naming the field, as for any other bad input
    return value


Since = Annotated[str | None, AfterValidator(_valid_since)]
Name = Annotated[str, AfterValidator(refuse_nul)]
_ERROR = {"content": {"application/json": {"example": {"error": {"code": "...", "message": "..."}}}}}


def require_admin(request: Request) -> None:
    expected = get_runtime(request).settings.admin_token.get_secret_value()
    authorization = request.headers.get("authorization", "")
    offered = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    if not signing.token_matches(expected, offered):
        raise Unauthorized("admin token required: Authorization: Bearer <ADMIN_TOKEN>")


router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={401: {"description": "No admin token, or a wrong one", **_ERROR}},
)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such run or automation", **_ERROR}}


class ReplayRequest(BaseModel):
    # The schema says what the validator below enforces: run ids, or an automation (or both).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["run_ids"], "properties": {"run_ids": {"type": "array", "minItems": 1}}},
                {"required": ["automation"], "properties": {"automation": {"type": "string", "minLength": 1}}},
            ]
        }
    )

    run_ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(
        default=None, max_length=10_000, description="Replay these runs"
    )
    automation: Name | None = Field(default=None, max_length=200, description="…or every run of this automation")
    status: RunStatus = Field(default=RunStatus.DEAD, description="…in this status")
    since: Since = Field(default=None, max_length=40, description="…created since (24h, 7d, or ISO time)")

    @model_validator(mode="after")
    def _one_selection(self) -> ReplayRequest:
        if not self.run_ids and not self.automation:
            raise ValueError("give run_ids, or an automation (with status and since)")
        return self


@router.get("/runs", summary="Runs, newest first", responses=_NOT_FOUND)
async def list_runs(
    runtime: RuntimeDep,
    automation: Annotated[Name | None, Query(max_length=200)] = None,
    status: RunStatus | None = None,
    since: Annotated[Since, Query(max_length=40, description="24h, 30m, 7d or an ISO time")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62, description="Page: runs older than this one")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    since_at = parse_since(since)
    async with runtime.database.connection() as conn:
        before = None
        if before_id is not None:
            before = await repository.run_position(conn, before_id)
            if before is None:
                raise NotFound(f"run {before_id} does not exist")
        runs = await repository.list_runs(
            conn, automation=automation, status=status, since=since_at, before=before, limit=limit
        )
    return {"runs": repository.to_json(runs), "next_before_id": runs[-1]["id"] if len(runs) == limit else None}


@router.get("/runs/{run_id}", summary="One run: its event, attempts and steps", responses=_NOT_FOUND)
async def show_run(runtime: RuntimeDep, run_id: int) -> dict[str, Any]:
    async with runtime.database.connection() as conn:
        run = await repository.get_run(conn, run_id) if 0 < run_id < 2**62 else None
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    result: dict[str, Any] = repository.to_json(run)
    return result


@router.post("/runs/replay", summary="Replay runs with the current code (ledger-completed steps are skipped)")
async def replay_runs(runtime: RuntimeDep, request: ReplayRequest) -> dict[str, Any]:
    stalled_after_s = runtime.settings.stalled_after_s
    async with runtime.database.connection() as conn:
        if request.run_ids:
            replayed = await operations.replay(conn, request.run_ids, stalled_after_s=stalled_after_s)
        else:
            replayed = await operations.replay_selection(
                conn,
                automation=request.automation,
                status=request.status,
                since=parse_since(request.since),
                stalled_after_s=stalled_after_s,
            )
    return {"queued": replayed.queued, "refused": {str(k): v for k, v in replayed.refused.items()}}


_HELD: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such run", **_ERROR},
    409: {"description": "The run is not waiting for review (not needs_review)", **_ERROR},
}


@router.post(
    "/runs/{run_id}/send-again",
    summary="A run held for review: send its unsure step again (same idempotency key), then go on",
    responses=_HELD,
)
async def send_again(runtime: RuntimeDep, run_id: int) -> dict[str, Any]:
    return await _settle(runtime, run_id, operations.send_again, "send_again")


@router.post(
    "/runs/{run_id}/mark-done",
    summary="A run held for review: record its unsure step as done (not sent), then go on",
    responses=_HELD,
)
async def mark_done(runtime: RuntimeDep, run_id: int) -> dict[str, Any]:
    return await _settle(runtime, run_id, operations.mark_done, "mark_done")


async def _settle(
    runtime: Runtime[ZapsSettings], run_id: int, settle: operations.Settle, decision: str
) -> dict[str, Any]:
    if not 0 < run_id < 2**62:
        raise NotFound(f"run {run_id} does not exist")
    try:
        async with runtime.database.connection() as conn:
            replayed = await settle(conn, run_id, by="admin API")
    except operations.NotHeld as held:
        raise (Conflict(str(held)) if held.status else NotFound(str(held))) from None
    return {"run_id": run_id, "decision": decision, "queued": replayed.queued}


@router.get("/automations", summary="Every automation of every service")
async def list_automations(runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.database.connection() as conn:
        automations = await repository.list_automations(conn)
    return {"automations": repository.to_json(automations)}


@router.post("/automations/{name}/pause", summary="Pause: events are stored, runs wait", responses=_NOT_FOUND)
async def pause(runtime: RuntimeDep, name: Name) -> dict[str, Any]:
    try:
        async with runtime.database.connection() as conn:
            await operations.pause(conn, name)
    except operations.UnknownAutomation:
        raise NotFound(f"automation {name} does not exist") from None
    return {"automation": name, "paused": True, "queued": 0}


@router.post("/automations/{name}/resume", summary="Resume: the runs that waited are queued", responses=_NOT_FOUND)
async def resume(runtime: RuntimeDep, name: Name) -> dict[str, Any]:
    try:
        async with runtime.database.connection() as conn:
            resumed = await operations.resume(conn, name)
    except operations.UnknownAutomation:
        raise NotFound(f"automation {name} does not exist") from None
    return {"automation": name, "paused": False, "queued": len(resumed.queued)}
