"""A Zaps service: its settings class, HTTP routes, scheduled jobs and automations, in one declared object.

A service module builds one `Service` and registers what it does on it; `create_app` turns it into a FastAPI app,
and `zaps dev` finds every installed service through the `zaps.services` entry point.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import procrastinate
from fastapi import APIRouter, FastAPI

from zaps.engine import executor
from zaps.engine.automation import Automation, Handler
from zaps.engine.repository import RUN_TASK
from zaps.engine.triggers import Poller, PollFunction, Subscription, Trigger
from zaps.retry import Backoff
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
        self.automations: dict[str, Automation] = {}
        self.pollers: dict[str, Poller] = {}
        self._runtime: Any = None
        # Tasks register on this App at import time; it is opened on the shared pool when the service starts.
        self.queue = procrastinate.App(connector=procrastinate.PsycopgConnector())

        async def run_automation(run_id: int) -> None:
            await executor.execute(self._runtime, run_id)

        self.queue.task(name=RUN_TASK, queue=f"{self.name}.events", retry=executor.EngineRetry(), pass_context=False)(
            run_automation
        )

    @property
    def pollers_by_source(self) -> dict[str, Poller]:
        return {poller.source: poller for poller in self.pollers.values()}

    def automation(
        self,
        trigger: Trigger,
        *,
        name: str | None = None,
        max_attempts: int = 5,
        silent_after: timedelta | None = None,
        backoff: Backoff | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare an automation: `trigger` starts it, the decorated `async def handler(run)` does the work.

        `max_attempts` counts every try of a run (retryable failures only); `silent_after` raises the dead-man's
        switch when no event arrived for that long.
        """

        def register(handler: Handler) -> Handler:
            local = (name or handler.__name__).replace("_", "-")
            automation = Automation(
                service=self.name,
                local_name=local,
                trigger=trigger,
                handler=handler,
                max_attempts=max_attempts,
                silent_after_s=silent_after.total_seconds() if silent_after else None,
                backoff=backoff or Backoff(),
            )
            if automation.name in self.automations:
                raise ValueError(f"automation {automation.name} is declared twice")
            poller = trigger.poller if isinstance(trigger, Subscription) else trigger
            if isinstance(poller, Poller) and poller.service != self.name:
                raise ValueError(f"poller {poller.name} belongs to the {poller.service} service")
            self.automations[automation.name] = automation
            return handler

        return register

    def poller(
        self,
        name: str,
        *,
        every: timedelta | None = None,
        every_setting: str | None = None,
        silent_after: timedelta | None = None,
    ) -> Callable[[PollFunction], Poller]:
        """Declare a poll: the decorated `async def fetch(poll) -> PollResult` runs every `every` (or every
        `settings.<every_setting>` seconds); automations listen with `trigger=<poller>.on("kind", ...)`."""
        if (every is None) == (every_setting is None):
            raise ValueError("give a poller exactly one of every= or every_setting=")

        def register(fetch: PollFunction) -> Poller:
            poller = Poller(
                name=name,
                fetch=fetch,
                every_s=every.total_seconds() if every else None,
                every_setting=every_setting,
                silent_after_s=silent_after.total_seconds() if silent_after else None,
                service=self.name,
            )
            self.pollers[name] = poller
            return poller

        return register

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

    def create_app(self, settings: ZapsSettings | None = None, *, actions: Any = None) -> FastAPI:
        from zaps.app import create_app

        return create_app(settings or self.load_settings(), service=self, actions=actions)

    def bind(self, runtime: Any) -> None:
        """Attach the running parts and register each cron job with its schedule resolved from the settings."""
        self._runtime = runtime
        registry = self.queue.periodic_registry
        for job in self.jobs:
            job.cron = job.spec if isinstance(job.spec, str) else job.spec(runtime.settings)
            registry.periodic_tasks.pop((job.task_name, job.name), None)
            registry.register_task(task=job.task, cron=job.cron, periodic_id=job.name, configure_kwargs={})
