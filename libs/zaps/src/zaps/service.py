"""A Zaps service: its settings class, HTTP routes and automations, in one declared object.

`service.py` builds one `Service`, naming the modules that declare its automations; `create_app` imports them, checks
what they declare (`zaps.declarations`) and turns it all into a FastAPI app. `zaps dev` finds every installed
service through the `zaps.services` entry point.

    service = Service(Settings, title="Zaps orders-service", automations=["orders_service.automations"])

`Service[Settings]` is generic in its settings class: the handlers it accepts take `Run[Settings]`, its pollers
get `PollContext[Settings]`, so mypy checks every `run.settings.<field>` against the class that declares it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Generic

import procrastinate
from fastapi import APIRouter, FastAPI

from zaps import declarations
from zaps.actions import Actions
from zaps.connectors.base import Connector
from zaps.context import Runtime
from zaps.engine import executor
from zaps.engine.automation import DEFAULT_TIMEOUT, Automation, Handler
from zaps.engine.repository import RUN_TASK
from zaps.engine.triggers import Poller, PollFunction, Subscription, Trigger
from zaps.retry import Retry
from zaps.settings import SettingsT, load_settings

logger = logging.getLogger(__name__)


def calling_module() -> str:
    """The module whose code is building a `Service` (for a subclass, the module of its `__init__`)."""
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    return str(frame.f_globals.get("__name__", "")) if frame is not None else ""


class Service(Generic[SettingsT]):
    def __init__(
        self, settings_class: type[SettingsT], *, title: str | None = None, automations: Sequence[str] = ()
    ) -> None:
        """`automations`: the modules (dotted names, e.g. "orders_service.automations") that declare this service's
        automations and pollers. They are imported when the app is made; a module of the service's package that
        declares some without being listed stops the start (`zaps.declarations`)."""
        fields = settings_class.model_fields
        self.settings_class = settings_class
        self.name: str = fields["service_name"].default
        self.default_prefix: str = fields["path_prefix"].default or f"/api/{self.name}"
        self.title = title or f"{self.name} service"
        # Where this service was built: its package is what the start-up check reads for unlisted modules.
        self.module = calling_module()
        self.automation_modules = tuple(automations)
        self.routers: list[APIRouter] = []
        self.readiness_checks: dict[str, Callable[[], Awaitable[float]]] = {}
        self.automations: dict[str, Automation[SettingsT]] = {}
        self.pollers: dict[str, Poller[SettingsT]] = {}
        self._runtime: Runtime[SettingsT] | None = None
        self._package_checked = False
        # Tasks register on this App at import time; it is opened on the shared pool when the service starts.
        self.queue = procrastinate.App(connector=procrastinate.PsycopgConnector())

        async def run_automation(run_id: int) -> None:
            await executor.execute(self.runtime, run_id)

        self.queue.task(name=RUN_TASK, queue=f"{self.name}.events", retry=executor.EngineRetry(), pass_context=False)(
            run_automation
        )

    @property
    def runtime(self) -> Runtime[SettingsT]:
        """The running parts, once the app has started (jobs run only then)."""
        if self._runtime is None:
            raise RuntimeError(f"the {self.name} service has not started")
        return self._runtime

    @property
    def pollers_by_source(self) -> dict[str, Poller[SettingsT]]:
        return {poller.source: poller for poller in self.pollers.values()}

    def automation(
        self,
        trigger: Trigger[SettingsT],
        *,
        name: str | None = None,
        retry: Retry | None = None,
        timeout: timedelta = DEFAULT_TIMEOUT,
        silent_after: timedelta | None = None,
        uses: Sequence[type[Connector]] = (),
    ) -> Callable[[Handler[SettingsT]], Handler[SettingsT]]:
        """Declare an automation: `trigger` starts it (a webhook, a schedule, or a poller's events), the decorated
        `async def handler(run: Run[Settings])` does the work.

        `retry` says when a run that failed with a retryable error is tried again, and how often (default:
        `Retry()`, 10 tries over about 11 hours; `Retry(delays=())` tries once); `timeout` bounds each try of the
        handler (default 10 minutes: then the try fails as retryable, and the worker is free); `silent_after`
        raises the dead-man's switch when no event arrived for that long; `uses` lists the connectors it calls
        (`zaps.connectors`), whose settings are then checked at start.
        """

        def register(handler: Handler[SettingsT]) -> Handler[SettingsT]:
            local = (name or handler.__name__).replace("_", "-")
            automation = Automation(
                service=self.name,
                local_name=local,
                trigger=trigger,
                handler=handler,
                retry=retry or Retry(),
                timeout_s=timeout.total_seconds(),
                silent_after_s=silent_after.total_seconds() if silent_after else None,
                uses=tuple(uses),
            )
            if automation.timeout_s <= 0:
                raise ValueError(f"automation {automation.name}: timeout must be positive")
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
    ) -> Callable[[PollFunction[SettingsT]], Poller[SettingsT]]:
        """Declare a poll: the decorated `async def fetch(poll) -> PollResult` runs every `every` (or every
        `settings.<every_setting>` seconds); automations listen with `trigger=<poller>.on("kind", ...)`."""
        if (every is None) == (every_setting is None):
            raise ValueError("give a poller exactly one of every= or every_setting=")

        def register(fetch: PollFunction[SettingsT]) -> Poller[SettingsT]:
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
        return [f"{self.name}.events", f"{self.name}.maintenance"]

    def include_router(self, router: APIRouter) -> None:
        self.routers.append(router)

    def load(self) -> None:
        """Import the modules listed in `automations=` and check what the service declares; `create_app` calls it,
        so a mistake stops the start. The package's source is read once per service object."""
        declarations.check(self, scan_package=not self._package_checked)
        self._package_checked = True

    def load_settings(self, **overrides: Any) -> SettingsT:
        return load_settings(self.settings_class, **overrides)

    def create_app(self, settings: SettingsT | None = None, *, actions: Actions | None = None) -> FastAPI:
        from zaps.app import create_app

        return create_app(settings or self.load_settings(), service=self, actions=actions)

    def bind(self, runtime: Runtime[SettingsT]) -> None:
        """Attach the running parts, which the queue's jobs use."""
        self._runtime = runtime
