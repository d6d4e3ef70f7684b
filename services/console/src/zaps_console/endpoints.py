"""The console's pages and its small JSON API: sign-in, automations, runs, one run, replay, static files.

Every route sits behind `gate.SessionGate` (session and CSRF); the handlers read through a repository, act on runs
through `zaps.engine.operations` (which wakes the workers too, as for the admin API and the CLI), and render.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import redis.asyncio as redis
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from zaps.context import RedisDep, Runtime, RuntimeDep
from zaps.engine import operations
from zaps.engine import repository as engine
from zaps.engine.statuses import RunStatus
from zaps.errors import NotFound
from zaps.settings import ZapsSettings

from zaps_console import passwords, repository, views
from zaps_console.filters import STATUS_CHOICES, WINDOW_CHOICES, BadFilter, RunFilter
from zaps_console.sessions import LOGIN_COOKIE, SESSION_COOKIE, Session
from zaps_console.throttle import LoginThrottle
from zaps_console.web import STATIC, Console, ConsoleDep, FormDep, SessionDep, base_path

logger = logging.getLogger(__name__)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["console"])

STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
MAX_RUN_ID = 2**62


def redirect(request: Request, path: str) -> RedirectResponse:
    """303 to a console path: after a POST the browser GETs the page (a reload does not send the form again)."""
    return RedirectResponse(base_path(request) + path, status_code=303)


def safe_next(request: Request, value: str | None) -> str:
    """Where to go after signing in: a path of the console itself, never another site (`//evil`, `/\\evil`)."""
    base = base_path(request)
    if (
        value
        and value.startswith(base + "/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
        and len(value) <= 2000
    ):
        return value
    return base + "/runs"


# --- sign-in -----------------------------------------------------------------------------------------------------


def _login_page(
    request: Request, console: Console, *, nonce: str, next_path: str, error: str | None, username: str, status: int
) -> Response:
    context = {
        "next": next_path,
        "login_token": console.signer.login_token(nonce),
        "error": error,
        "username": username,
    }
    return console.render(request, "login.html", context, status_code=status)


@pages.get("/login")
async def login_page(request: Request, console: ConsoleDep, next: str | None = None) -> Response:
    if request.scope.get("zaps_console.session") is not None:
        return RedirectResponse(safe_next(request, next), status_code=303)
    nonce = console.signer.login_nonce()
    response = _login_page(
        request, console, nonce=nonce, next_path=safe_next(request, next), error=None, username="", status=200
    )
    console.set_cookie(response, request, LOGIN_COOKIE, nonce, max_age=3600)
    return response


def _credentials_match(console: Console, username: str, password: str) -> bool:
    """Both checks always run, so the answer takes as long for a wrong name as for a wrong password."""
    expected = console.settings.console_admin_username
    name_ok = hmac.compare_digest(username.encode(), expected.encode())
    password_ok = console.password_hash is not None and passwords.verify(password, console.password_hash)
    return name_ok and password_ok


@pages.post("/login")
async def login(
    request: Request, console: ConsoleDep, runtime: RuntimeDep, redis_client: RedisDep, form: FormDep
) -> Response:
    username = form.get("username", "")[:200]
    password = form.get("password", "")[:1024]
    next_path = safe_next(request, form.get("next"))
    nonce = request.cookies.get(LOGIN_COOKIE, "")

    def again(error: str, status: int) -> Response:
        return _login_page(
            request, console, nonce=nonce, next_path=next_path, error=error, username=username, status=status
        )

    if console.password_hash is None:
        return again("Sign-in is not set up: set CONSOLE_ADMIN_PASSWORD_HASH (see docs/console.md).", 503)
    settings = console.settings
    throttle = LoginThrottle(
        redis_client,
        free=settings.console_login_attempts,
        max_delay_s=settings.console_login_max_delay_s,
        window_s=settings.console_login_window_s,
    )
    client_ip = request.client.host if request.client else "unknown"
    pair_key = console.signer.throttle_key("pair", f"{_name_bucket(console, username)}\x00{client_ip}")
    try:
        verdict = await throttle.attempt(pair_key=pair_key)
    except redis.RedisError:
        logger.warning("sign-in refused: Redis does not answer")
        return again("Sign-in is unavailable for a moment (Redis does not answer). Try again shortly.", 503)
    if not verdict.allowed:
        logger.warning("sign-in throttled", extra={"retry_after_s": verdict.retry_after_s})
        wait = (
            f"{verdict.retry_after_s} s" if verdict.retry_after_s < 120 else f"{round(verdict.retry_after_s / 60)} min"
        )
        response = again(f"Too many sign-in attempts. Try again in {wait}.", 429)
        response.headers["retry-after"] = str(verdict.retry_after_s)
        return response
    if not await asyncio.to_thread(_credentials_match, console, username, password):
        logger.warning("sign-in failed: wrong username or password")
        return again("Wrong username or password.", 401)
    await throttle.succeeded(pair_key=pair_key)
    cookie, session = console.signer.issue(settings.console_admin_username)
    async with runtime.database.connection() as conn:
        await repository.open_session(
            conn,
            record_id=session.record_id,
            username=session.username,
            expires_at=datetime.fromtimestamp(session.expires_at, UTC),
        )
    response = RedirectResponse(next_path, status_code=303)
    console.set_cookie(response, request, SESSION_COOKIE, cookie, max_age=settings.console_session_ttl_s)
    console.delete_cookie(response, request, LOGIN_COOKIE)
    logger.info("admin signed in")
    return response


def _name_bucket(console: Console, username: str) -> str:
    """The admin's name counts on its own; every other name shares one bucket per address (throttle.py)."""
    expected = console.settings.console_admin_username.strip().lower()
    return "admin" if hmac.compare_digest(username.strip().lower().encode(), expected.encode()) else "\x00other"


@pages.post("/logout")
async def logout(request: Request, console: ConsoleDep, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Sign this browser out: its session record is deleted, so the cookie is refused even if a copy survives."""
    async with runtime.database.connection() as conn:
        await repository.end_session(conn, session.record_id)
    response = redirect(request, "/login")
    console.delete_cookie(response, request, SESSION_COOKIE)
    return response


@pages.post("/logout/everywhere")
async def logout_everywhere(
    request: Request, console: ConsoleDep, runtime: RuntimeDep, session: SessionDep
) -> Response:
    """Sign the admin out of every browser and device at once (a lost laptop, a shared computer)."""
    async with runtime.database.connection() as conn:
        ended = await repository.end_every_session(conn, session.username)
    logger.warning("admin signed out everywhere", extra={"sessions": ended})
    response = redirect(request, "/login")
    console.delete_cookie(response, request, SESSION_COOKIE)
    return response


# --- automations -------------------------------------------------------------------------------------------------


@pages.get("/automations")
async def automations(
    request: Request,
    console: ConsoleDep,
    runtime: RuntimeDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
    automation: Annotated[str | None, Query(max_length=200)] = None,
    queued: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    async with runtime.database.connection() as conn:
        rows = await repository.automations_overview(conn)
    notice = None
    if done == "paused" and automation:
        notice = f"Paused {automation}: its events are stored, and wait until it is resumed."
    elif done == "resumed" and automation:
        notice = f"Resumed {automation}: {queued or 0} waiting run(s) queued."
    return console.render(request, "automations.html", {"automations": rows, "notice": notice})


async def _set_paused(request: Request, runtime: Runtime[ZapsSettings], name: str, paused: bool) -> Response:
    if "\x00" in name:  # no automation has one, and PostgreSQL text cannot hold it
        raise NotFound("automation names hold no NUL character")
    try:
        async with runtime.database.connection() as conn:
            if paused:
                await operations.pause(conn, name)
                queued = 0
            else:
                queued = len((await operations.resume(conn, name)).queued)  # the runs that waited, now queued
    except operations.UnknownAutomation:
        raise NotFound(f"automation {name} does not exist") from None
    logger.info("automation paused" if paused else "automation resumed", extra={"automation": name, "queued": queued})
    done = "paused" if paused else "resumed"
    shown = {"done": done, "automation": name, "queued": queued if not paused else None}
    return redirect(request, "/automations" + views.query_string(**shown))


@pages.post("/automations/{name}/pause")
async def pause(request: Request, runtime: RuntimeDep, session: SessionDep, name: str) -> Response:
    return await _set_paused(request, runtime, name, True)


@pages.post("/automations/{name}/resume")
async def resume(request: Request, runtime: RuntimeDep, session: SessionDep, name: str) -> Response:
    return await _set_paused(request, runtime, name, False)


# --- runs --------------------------------------------------------------------------------------------------------


def _filter_context(request: Request, run_filter: RunFilter) -> dict[str, Any]:
    return {"filter": run_filter, "statuses": STATUS_CHOICES, "windows": WINDOW_CHOICES}


@pages.get("/runs")
async def runs(request: Request, console: ConsoleDep, runtime: RuntimeDep, session: SessionDep) -> Response:
    params = request.query_params
    try:
        run_filter = RunFilter.read(dict(params))
        cursor = views.decode_cursor(params.get("cursor"))
    except (BadFilter, ValueError) as error:
        async with runtime.database.connection() as conn:
            names = await repository.automation_names(conn)
        context = {**_filter_context(request, RunFilter()), "runs": [], "names": names, "error": str(error)}
        context.update(older=None, dead_count=None, paged=False, replayed=None)
        return console.render(request, "runs.html", context, status_code=400)
    since, until = run_filter.window()
    page_size = console.settings.console_page_size
    async with runtime.database.connection() as conn:
        rows = await engine.list_runs(
            conn,
            automation=run_filter.automation_or_none,
            status=run_filter.status_or_none,
            since=since,
            until=until,
            before=cursor,
            limit=page_size + 1,  # one more than shown: whether an older page exists, without a count
        )
        names = await repository.automation_names(conn)
        dead_count = None
        if run_filter.status == RunStatus.DEAD:
            dead_count = await repository.count_dead(
                conn, automation=run_filter.automation_or_none, since=since, until=until
            )
    older = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        older = run_filter.link(cursor=views.encode_cursor(rows[-1]["created_at"], rows[-1]["id"]))
    replayed = params.get("replayed")
    context = {
        **_filter_context(request, run_filter),
        "runs": rows,
        "names": names,
        "error": None,
        "older": older,
        "paged": cursor is not None,
        "dead_count": dead_count,
        "max_replay": repository.MAX_REPLAY,
        "replayed": int(replayed) if replayed and replayed.isdigit() else None,
    }
    return console.render(request, "runs.html", context)


@pages.get("/runs/replay")
async def confirm_replay(request: Request, console: ConsoleDep, runtime: RuntimeDep, session: SessionDep) -> Response:
    try:
        run_filter = RunFilter.read({**request.query_params, "status": RunStatus.DEAD})
    except BadFilter as error:
        return console.render(request, "error.html", {"title": "Bad filter", "message": str(error)}, status_code=400)
    since, until = run_filter.window()
    async with runtime.database.connection() as conn:
        count = await repository.count_dead(conn, automation=run_filter.automation_or_none, since=since, until=until)
    context = {"filter": run_filter, "count": count, "max_replay": repository.MAX_REPLAY}
    return console.render(request, "replay.html", context)


@pages.post("/runs/replay")
async def replay_many(
    request: Request, console: ConsoleDep, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    try:
        run_filter = RunFilter.read({**form, "status": RunStatus.DEAD})
    except BadFilter as error:
        return console.render(request, "error.html", {"title": "Bad filter", "message": str(error)}, status_code=400)
    since, until = run_filter.window()
    async with runtime.database.connection() as conn:
        replayed = await operations.replay_selection(
            conn,
            automation=run_filter.automation_or_none,
            status=RunStatus.DEAD,
            since=since,
            until=until,
            stalled_after_s=runtime.settings.stalled_after_s,
        )
    logger.info("dead runs replayed", extra={"runs": len(replayed.queued), "automation": run_filter.automation})
    return redirect(request, "/runs" + run_filter.link(status="", replayed=str(len(replayed.queued))))


@pages.get("/runs/{run_id:int}")
async def show_run(
    request: Request,
    console: ConsoleDep,
    runtime: RuntimeDep,
    session: SessionDep,
    run_id: int,
    notice: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    async with runtime.database.connection() as conn:
        run = await engine.get_run(conn, run_id) if 0 < run_id < MAX_RUN_ID else None
    if run is None:
        message = f"Run {run_id} does not exist (it may have passed its retention time)."
        return console.render(request, "error.html", {"title": "No such run", "message": message}, status_code=404)
    received = run["event"].get("received_at")
    if isinstance(received, str):  # row_to_json gives the event's times as text
        run["event"]["received_at"] = datetime.fromisoformat(received)
    context = {
        "run": run,
        "grafana_url": (
            views.grafana_logs_url(console.settings.console_grafana_url, run)
            if console.settings.console_grafana_url
            else None
        ),
        "loki_query": views.loki_query(run_id),
        "notice": notice,
    }
    return console.render(request, "run.html", context)


@pages.post("/runs/{run_id:int}/replay")
async def replay_one(request: Request, runtime: RuntimeDep, session: SessionDep, run_id: int) -> Response:
    async with runtime.database.connection() as conn:
        replayed = await operations.replay(conn, [run_id], stalled_after_s=runtime.settings.stalled_after_s)
    if run_id in replayed.refused and replayed.refused[run_id] == "no such run":
        raise NotFound(f"run {run_id} does not exist")
    logger.info("run replayed" if replayed.queued else "run not replayed", extra={"run": run_id})
    return redirect(request, f"/runs/{run_id}?notice={'replayed' if replayed.queued else 'refused'}")


@pages.post("/runs/{run_id:int}/send-again")
async def send_again(request: Request, runtime: RuntimeDep, session: SessionDep, run_id: int) -> Response:
    return await _settle(request, runtime, session, run_id, operations.send_again, "send-again")


@pages.post("/runs/{run_id:int}/mark-done")
async def mark_done(request: Request, runtime: RuntimeDep, session: SessionDep, run_id: int) -> Response:
    return await _settle(request, runtime, session, run_id, operations.mark_done, "mark-done")


async def _settle(
    request: Request,
    runtime: Runtime[ZapsSettings],
    session: Session,
    run_id: int,
    settle: operations.Settle,
    notice: str,
) -> Response:
    """A run held for review: its unsure step is sent again, or recorded as done; then the run goes on."""
    try:
        async with runtime.database.connection() as conn:
            await settle(conn, run_id, by=f"console ({session.username})")
    except operations.NotHeld:
        return redirect(request, f"/runs/{run_id}?notice=not-held")
    logger.info("held run settled", extra={"run": run_id, "decision": notice})
    return redirect(request, f"/runs/{run_id}?notice={notice}")


# --- the console's own JSON API and static files -----------------------------------------------------------------


@api.get("/runs/{run_id:int}", summary="A run's status (the run page polls it while the run is going)")
async def run_status(runtime: RuntimeDep, session: SessionDep, run_id: int) -> dict[str, Any]:
    async with runtime.database.connection() as conn:
        row = await repository.run_status(conn, run_id) if 0 < run_id < MAX_RUN_ID else None
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    look = views.status_look(row["status"])
    return {**engine.to_json(row), "label": look.label, "terminal": views.is_terminal(row["status"])}


@pages.get("/static/{name}")
async def static_file(name: str) -> Response:
    """Only the files listed here (no path is built from the request beyond the dictionary look-up)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise NotFound("no such file")
    return FileResponse(STATIC / name, media_type=media_type)
