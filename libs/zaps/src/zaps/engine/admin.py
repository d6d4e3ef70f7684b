"""The admin JSON API of a service: list and show runs, replay them, settle runs held for review (send again, mark
as done), pause and resume automations.

Guarded by `Authorization: Bearer <ADMIN_TOKEN>`. Mounted under each service's prefix at /admin; runs of every
service live in the one database, so any service's admin API sees them all.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from zaps import signing
from zaps.context import Runtime, RuntimeDep, get_runtime
from zaps.engine import repository
from zaps.errors import Conflict, NotFound, Unauthorized
from zaps.settings import ZapsSettings

RunStatus = Literal["queued", "running", "succeeded", "filtered", "retrying", "dead", "paused", "needs_review"]
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
    status: RunStatus = Field(default="dead", description="…in this status")
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
            cursor = await conn.execute("SELECT created_at, id FROM zaps_run WHERE id = %s", (before_id,))
            row = await cursor.fetchone()
            if row is None:
                raise NotFound(f"run {before_id} does not exist")
            before = (row["created_at"], row["id"])
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
    async with runtime.database.transaction() as conn:
        if request.run_ids:
            ids = request.run_ids
        else:
            ids = await repository.select_replayable(
                conn, automation=request.automation, status=request.status, since=parse_since(request.since)
            )
        replayed = await repository.replay(conn, ids, stalled_after_s=runtime.settings.stalled_after_s)
    for queue in replayed.queues:
        runtime.wakeup.request(queue)
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
    return await _settle(runtime, run_id, "send_again")


@router.post(
    "/runs/{run_id}/mark-done",
    summary="A run held for review: record its unsure step as done (not sent), then go on",
    responses=_HELD,
)
async def mark_done(runtime: RuntimeDep, run_id: int) -> dict[str, Any]:
    return await _settle(runtime, run_id, "mark_done")


async def _settle(runtime: Runtime[ZapsSettings], run_id: int, decision: str) -> dict[str, Any]:
    if not 0 < run_id < 2**62:
        raise NotFound(f"run {run_id} does not exist")
    try:
        async with runtime.database.transaction() as conn:
            replayed = await repository.resolve_held(conn, run_id, decision=decision, by="admin API")
    except repository.NotHeld:
        async with runtime.database.connection() as conn:
            cursor = await conn.execute("SELECT status FROM zaps_run WHERE id = %s", (run_id,))
            row = await cursor.fetchone()
        if row is None:
            raise NotFound(f"run {run_id} does not exist") from None
        raise Conflict(f"run {run_id} is {row['status']}, not needs_review") from None
    for queue in replayed.queues:
        runtime.wakeup.request(queue)
    return {"run_id": run_id, "decision": decision, "queued": replayed.queued}


@router.get("/automations", summary="Every automation of every service")
async def list_automations(runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.database.connection() as conn:
        cursor = await conn.execute(
            "SELECT name, service, source, kinds, trigger, max_attempts, silent_after_s, paused, registered_at "
            "FROM zaps_automation ORDER BY name"
        )
        rows = await cursor.fetchall()
    return {"automations": repository.to_json([dict(row) for row in rows])}


@router.post("/automations/{name}/pause", summary="Pause: events are stored, runs wait", responses=_NOT_FOUND)
async def pause(runtime: RuntimeDep, name: Name) -> dict[str, Any]:
    return await _set_paused(runtime, name, True)


@router.post("/automations/{name}/resume", summary="Resume: the runs that waited are queued", responses=_NOT_FOUND)
async def resume(runtime: RuntimeDep, name: Name) -> dict[str, Any]:
    return await _set_paused(runtime, name, False)


async def _set_paused(runtime: Runtime[ZapsSettings], name: str, paused: bool) -> dict[str, Any]:
    async with runtime.database.transaction() as conn:
        try:
            queued = await repository.set_paused(conn, name, paused)
        except LookupError:
            raise NotFound(f"automation {name} does not exist") from None
        queues = await repository.defer_queues(conn, queued)
    for queue in queues:
        runtime.wakeup.request(queue)
    return {"automation": name, "paused": paused, "queued": len(queued)}
