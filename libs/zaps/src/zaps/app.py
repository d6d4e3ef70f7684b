"""`create_app(settings, service=…)`: the FastAPI app every service runs.

It brings health routes, docs that work behind the path prefix and without internet, one JSON error shape, request
ids in logs, and a lifespan that migrates the database, opens the pool, Redis and the queue, and runs the worker
in-process.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import procrastinate
import redis.exceptions as redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from procrastinate.exceptions import ConnectorException
from procrastinate.job_context import JobContext, JobResult
from procrastinate.jobs import Job, Status
from procrastinate.retry import RetryDecision
from procrastinate.worker import Worker
from psycopg import DataError, OperationalError
from psycopg.errors import RaiseException
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from zaps import cache, health
from zaps.actions import Actions
from zaps.actions.configured import build_actions
from zaps.context import Runtime
from zaps.db import Database, Reachability
from zaps.docs_pages import install_docs
from zaps.embedded_db import start_embedded_postgres
from zaps.engine import admin, repository
from zaps.engine.ticker import Ticker, register_timers
from zaps.engine.wakeup import Wakeup
from zaps.engine.webhooks import webhook_router
from zaps.errors import ZapsError
from zaps.logging import bound, configure_logging, request_id_var, service_var
from zaps.migrate import migrate
from zaps.service import Service
from zaps.settings import Environment, SettingsT, ZapsSettings

logger = logging.getLogger(__name__)
FASTAPI_BODY_ERROR = "There was an error parsing the body"


def resolve_database_url(settings: ZapsSettings) -> str:
    """DATABASE_URL if set; in development, otherwise, an embedded PostgreSQL under the data folder."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    if settings.environment is Environment.production:
        raise RuntimeError("DATABASE_URL must be set in production")
    return start_embedded_postgres(Path(settings.data_dir) / "postgres")


class RequestContextMiddleware:
    """Sets the path prefix as the ASGI root path, and gives every request an id (the caller's X-Request-ID, or a
    new one) that every log line of the request carries and the answer echoes back.

    With the root path set here, the app serves its routes under the prefix whether Traefik strips it (production)
    or not (`make dev`, tests), and the docs page asks for /api/<service>/openapi.json and sends "try it" calls
    under the prefix.
    """

    def __init__(self, app: ASGIApp, service_name: str, path_prefix: str) -> None:
        self.app = app
        self.service_name = service_name
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.path_prefix:
            scope["root_path"] = self.path_prefix
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with bound(request_id_var, request_id), bound(service_var, self.service_name):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                # Handled here, not by Starlette's outermost handler, so the log line and the answer carry the
                # request id. The answer says nothing of the cause: it may hold a secret.
                logger.exception("unhandled error")
                if started or scope["type"] != "http":
                    raise
                body = {"error": {"code": "internal_error", "message": "internal error", "request_id": request_id}}
                await JSONResponse(body, status_code=500)(scope, receive, send_with_id)


def error_body(request: Request, code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id_var.get()}
    if details is not None:
        error["details"] = details
    return {"error": error}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ZapsError)
    async def on_zaps_error(request: Request, exc: ZapsError) -> JSONResponse:
        return JSONResponse(error_body(request, exc.code, exc.message, exc.details), status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_BODY_ERROR:
            # FastAPI's own answer to a JSON body that does not decode (not UTF-8): the same 422 as any other body
            # that is not valid, as every route documents, whether or not the admin token was checked yet.
            return JSONResponse(error_body(request, "invalid_request", "body is not valid JSON"), 422)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(request, code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
            for item in exc.errors()
        ]
        return JSONResponse(error_body(request, "invalid_request", "request is not valid", details), 422)

    @app.exception_handler(DataError)
    async def on_unstorable_value(request: Request, exc: DataError) -> JSONResponse:
        # A value PostgreSQL refuses (a NUL in text, a number out of range) that no validator caught: the caller's
        # input, so a 422 rather than a 500. Logged, so the missing validator can be added.
        logger.warning("value refused by the database", extra={"error": type(exc).__name__, "path": request.url.path})
        message = "a value in the request cannot be used (out of range, or holding a NUL character)"
        return JSONResponse(error_body(request, "invalid_request", message), 422)

    @app.exception_handler(redis.ConnectionError)
    @app.exception_handler(redis.TimeoutError)
    async def on_redis_down(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("redis unavailable", extra={"error": type(exc).__name__})
        return JSONResponse(error_body(request, "unavailable", "Redis is unavailable; retry later"), 503)

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OperationalError)
    async def on_database_down(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("database unavailable", extra={"error": type(exc).__name__})
        return JSONResponse(error_body(request, "unavailable", "the database is unavailable; retry later"), 503)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()  # procrastinate turns the cancellation into a graceful stop: running jobs finish first
    with suppress(asyncio.CancelledError):
        await task


@dataclass
class RestartPause:
    """How long the worker waits before it starts again after stopping.

    The pause doubles while the worker keeps stopping soon after each start (a database that is down), and goes back
    to the first pause once the worker has run for `healthy_after_s`: one later blip must not leave it idle for the
    longest pause while jobs wait.
    """

    first_s: float = 1.0
    longest_s: float = 30.0
    healthy_after_s: float = 10.0
    _next_s: float | None = None

    def after_stop(self, ran_for_s: float) -> float:
        if self._next_s is None or ran_for_s >= self.healthy_after_s:
            self._next_s = self.first_s
        pause = self._next_s
        self._next_s = min(pause * 2, self.longest_s)
        return pause


# A prune put off (see `prune_after_s`): procrastinate deletes workers silent for longer than this, i.e. none.
PRUNE_NEVER_S = 10 * 365 * 24 * 3600.0


def prune_after_s(stalled_after_s: float, reachability: Reachability | None) -> float:
    """The silence after which procrastinate's worker, as it starts, deletes other workers (their running jobs then
    count as stalled at once): `stalled_after_s`, but only once the database has answered for that long. A worker
    starts again right after an outage, when every heartbeat is old because none could be written; pruning then
    would take live workers for dead. Put off, the prune is left to housekeeping, which waits out the same grace."""
    if reachability is None or reachability.reachable_for_s() >= stalled_after_s:
        return stalled_after_s
    return PRUNE_NEVER_S


async def run_worker(
    service: Service[SettingsT],
    settings: ZapsSettings,
    *,
    pause: RestartPause | None = None,
    reachability: Reachability | None = None,
) -> None:
    """Run the queue worker until cancelled; if it stops for any other reason (the database dropped it), start it
    again after a pause. `reachability` (the database's) is kept up to date by the heartbeat and decides whether the
    worker may prune silent ones as it starts."""
    pause = pause or RestartPause()
    while True:
        started = time.monotonic()
        try:
            await run_queue_worker(
                service.queue,
                queues=service.queues,
                name=f"{settings.service_name}-worker",
                concurrency=settings.worker_concurrency,
                install_signal_handlers=False,
                fetch_job_polling_interval=1.0,  # retries and delayed jobs start within a second
                shutdown_graceful_timeout=30,
                update_heartbeat_interval=settings.worker_heartbeat_s,
                stalled_worker_timeout=prune_after_s(settings.stalled_after_s, reachability),
                reachability=reachability,
            )
            delay = pause.after_stop(time.monotonic() - started)
            logger.error("worker stopped by itself; restarting", extra={"retry_in_s": delay})
        except asyncio.CancelledError:
            raise
        except Exception:
            delay = pause.after_stop(time.monotonic() - started)
            logger.exception("worker stopped on an error; restarting", extra={"retry_in_s": delay})
        await asyncio.sleep(delay)


async def run_queue_worker(
    queue: procrastinate.App, *, reachability: Reachability | None = None, **options: Any
) -> None:
    """One run of procrastinate's worker (what `App.run_worker_async` does), with its heartbeat kept alive for as
    long as the run lasts.

    procrastinate stops a worker when its heartbeat fails (the database went away), and on the way out it ends the
    heartbeat first, then waits up to `shutdown_graceful_timeout` for the jobs it is running. Without a heartbeat
    meanwhile, housekeeping (or another worker starting) would take it for dead after `stalled_after_s` and queue
    those jobs again while they still run: the same run executed twice at once."""
    queue.perform_import_paths()  # type: ignore[no-untyped-call]
    worker = FencedWorker(app=queue, **{**queue.worker_defaults, **options})
    await run_keeping_heartbeat(worker, reachability)


class FencedWorker(Worker):
    """procrastinate's worker, for whom a job taken back meanwhile is no error.

    Housekeeping fails the job of a worker it takes for dead and queues the run with a new job; if that worker was
    alive after all, its execution is refused by the run's claim fence, and procrastinate's attempt to end the job
    then meets a job no longer `doing` (its SQL raises). That is expected: said once, not left as an unretrieved
    task error."""

    async def _persist_job_status(
        self,
        job: Job,
        status: Status,
        retry_decision: RetryDecision | None,
        context: JobContext,
        job_result: JobResult | None,
    ) -> None:
        try:
            await super()._persist_job_status(
                job=job, status=status, retry_decision=retry_decision, context=context, job_result=job_result
            )
        except ConnectorException as error:
            if not isinstance(error.__cause__, RaiseException):
                raise
            if job.id is not None:
                self._job_ids_to_abort.pop(job.id, None)
            logger.warning(
                "job already taken back by housekeeping (its worker was taken for dead); left as it is",
                extra={"job": job.id, "task": job.task_name},
            )


async def run_keeping_heartbeat(worker: Worker, reachability: Reachability | None = None) -> None:
    """`worker.run()`, beside a task that updates the worker's heartbeat every `update_heartbeat_interval` from
    its registration until `run()` returns, shutdown wait included. A failed update (the database is down) is
    tried again every quarter of a second at most, so the heartbeat is fresh again as soon as the database is."""
    keeper = asyncio.create_task(_keep_heartbeat(worker, reachability or Reachability()), name="heartbeat keeper")
    try:
        await worker.run()  # type: ignore[no-untyped-call]
    finally:
        keeper.cancel()
        await asyncio.wait([keeper])


async def _keep_heartbeat(worker: Worker, reachability: Reachability) -> None:
    every_s = worker.update_heartbeat_interval
    retry_s = min(every_s, 0.25)
    while True:
        await asyncio.sleep(every_s)
        while (worker_id := worker.worker_id) is not None:  # None before registration and after unregistration
            try:
                await worker.app.job_manager.update_heartbeat(worker_id)
                reachability.succeeded()
                break
            except Exception as error:  # the database is away: the worker is still alive, try again soon
                reachability.observe(error)
                logger.debug("worker heartbeat failed; trying again", extra={"error": repr(error)})
                await asyncio.sleep(retry_s)


def create_app(settings: SettingsT, *, service: Service[SettingsT], actions: Actions | None = None) -> FastAPI:
    """The service's app. `actions` replaces the real side effects (tests pass fakes or local servers' URLs).

    It first loads the service's automation modules and checks its declarations (`Service.load`): a module that
    declares automations without being listed, or a trigger naming a setting that does not exist, stops here."""
    service.load()
    configure_logging(service=settings.service_name, level=settings.log_level, secrets=settings.secret_values())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.enter_context(bound(service_var, settings.service_name))
            database_url = resolve_database_url(settings)
            await asyncio.to_thread(migrate, database_url, allow_foreign_tables=settings.allow_foreign_tables)
            database = Database(
                database_url,
                min_size=settings.db_pool_min_size,
                max_size=settings.db_pool_max_size,
                name=settings.service_name,
            )
            await database.open()
            stack.push_async_callback(database.close)
            redis_client = cache.create_redis(settings.redis_url.get_secret_value() if settings.redis_url else None)
            stack.push_async_callback(redis_client.aclose)
            # A fresh connector per start: the service object outlives one app (tests, reloads), its pool does not.
            stack.enter_context(service.queue.replace_connector(procrastinate.PsycopgConnector()))
            await service.queue.open_async(database.pool)
            stack.push_async_callback(service.queue.close_async)
            runtime_actions = actions or build_actions(settings)
            stack.push_async_callback(runtime_actions.aclose)
            wakeup = Wakeup(database)
            wakeup.start()
            stack.push_async_callback(wakeup.stop)
            runtime: Runtime[SettingsT] = Runtime(
                service=service,
                settings=settings,
                database=database,
                redis=redis_client,
                queue=service.queue,
                actions=runtime_actions,
                wakeup=wakeup,
            )
            app.state.runtime = runtime
            stack.push_async_callback(runtime.close_resources)
            service.bind(runtime)
            async with database.connection() as conn:
                await repository.register_automations(conn, service.name, list(service.automations.values()))
            await register_timers(runtime)
            if settings.run_worker:
                worker = asyncio.create_task(
                    run_worker(service, settings, reachability=database.reachability),
                    name=f"{settings.service_name}-worker",
                )
                stack.push_async_callback(_stop, worker)
                ticker = Ticker(runtime)
                ticking = asyncio.create_task(ticker.run(), name=f"{settings.service_name}-ticker")
                stack.push_async_callback(ticker.stop)
                stack.push_async_callback(_stop, ticking)
            logger.info(
                "service started",
                extra={
                    "prefix": settings.path_prefix,
                    "redis": cache.describe(redis_client),
                    "worker": settings.run_worker,
                },
            )
            yield

    app = FastAPI(
        title=service.title,
        version=settings.code_version,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from install_docs, with their files served here, not from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    install_docs(app)
    app.include_router(health.router)
    app.include_router(webhook_router(list(service.automations.values())))
    app.include_router(admin.router)
    for router in service.routers:
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware, service_name=settings.service_name, path_prefix=settings.path_prefix)
    if settings.trusted_proxy_networks:
        # Outermost, so the request context, the logs and the console's sign-in throttle see the client's address
        # as the trusted proxy reported it. From any other peer X-Forwarded-For is ignored: anyone can write it.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_networks)
    return app
