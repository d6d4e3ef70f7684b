"""A Zaps service: its settings class, HTTP routes, scheduled jobs and automations, in one declared object.

A service module builds one `Service` and registers what it does on it; `create_app` turns it into a FastAPI app,
and `zaps dev` finds every installed service through the `zaps.services` entry point.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import procrastinate
from fastapi import APIRouter, FastAPI

from zaps.settings import ZapsSettings, load_settings

logger = logging.getLogger(__name__)

CronHandler = Callable[["JobContext"], Awaitable[None]]


@dataclass(frozen=True)
class JobContext:
    """What a scheduled job receives: the tick it runs for, and the running service's parts."""

    tick: int  # Unix time of the cron tick this run belongs to
    runtime: Any  # zaps.context.Runtime (typed loosely to avoid an import cycle)


CronSpec = str | Callable[[Any], str]


@dataclass
class ScheduledJob:
    name: str
    spec: CronSpec  # a cron string, or a function of the settings that returns one
    task_name: str
    task: Any
    cron: str = ""  # resolved when the service starts


class Service:
    def __init__(self, settings_class: type[ZapsSettings] = ZapsSettings, *, title: str | None = None) -> None:
        fields = settings_class.model_fields
        self.settings_class = settings_class
        self.name: str = fields["service_name"].default
        self.default_prefix: str = fields["path_prefix"].default or f"/api/{self.name}"
        self.title = title or f"{self.name} service"
        self.routers: list[APIRouter] = []
        self.jobs: list[ScheduledJob] = []
        self.readiness_checks: dict[str, Callable[[], Awaitable[float]]] = {}
        self._runtime: Any = None
        # Tasks register on this App at import time; it is opened on the shared pool when the service starts.
        self.queue = procrastinate.App(connector=procrastinate.PsycopgConnector())

    @property
    def queues(self) -> list[str]:
        """The job queues this service's worker serves (namespaced, so services share one database safely)."""
        return [f"{self.name}.schedules", f"{self.name}.events", f"{self.name}.maintenance"]

    def include_router(self, router: APIRouter) -> None:
        self.routers.append(router)

    def cron(self, schedule: CronSpec, *, name: str | None = None) -> Callable[[CronHandler], CronHandler]:
        """Run the decorated coroutine on a cron schedule (UTC), once per tick however many replicas run.

        `schedule` is a cron string (five fields, or six with seconds last), or a function of the settings that
        returns one, so a setting can change it. procrastinate's periodic deferrer inserts one job per tick, and a
        unique key in the database refuses the second insert from another process.
        """

        def register(handler: CronHandler) -> CronHandler:
            job_name = name or handler.__name__
            task_name = f"{self.name}.cron.{job_name}"

            async def run(timestamp: int) -> None:
                await handler(JobContext(tick=timestamp, runtime=self._runtime))

            task = self.queue.task(name=task_name, queue=f"{self.name}.schedules", pass_context=False)(run)
            self.jobs.append(ScheduledJob(name=job_name, spec=schedule, task_name=task_name, task=task))
            return handler

        return register

    def load_settings(self, **overrides: Any) -> ZapsSettings:
        return load_settings(self.settings_class, **overrides)

    def create_app(self, settings: ZapsSettings | None = None) -> FastAPI:
        from zaps.app import create_app

        return create_app(settings or self.load_settings(), service=self)

    def bind(self, runtime: Any) -> None:
        """Attach the running parts and register each cron job with its schedule resolved from the settings."""
        self._runtime = runtime
        registry = self.queue.periodic_registry
        for job in self.jobs:
            job.cron = job.spec if isinstance(job.spec, str) else job.spec(runtime.settings)
            registry.periodic_tasks.pop((job.task_name, job.name), None)
            registry.register_task(task=job.task, cron=job.cron, periodic_id=job.name, configure_kwargs={})
