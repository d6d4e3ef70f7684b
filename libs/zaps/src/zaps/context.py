"""What a running service holds: settings, the database, Redis and the job queue, reachable from handlers.

`Runtime[Settings]` is generic in the service's settings class, so `runtime.settings.<field>` is checked by mypy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Generic, TypeVar, cast

import procrastinate
import redis.asyncio as redis
from fastapi import Depends, Request

from zaps.actions import Actions
from zaps.db import Database
from zaps.engine.wakeup import Wakeup
from zaps.settings import SettingsT, ZapsSettings

if TYPE_CHECKING:  # for annotations only: the service module imports the engine, whose parts import this module
    from zaps.service import Service

T = TypeVar("T")


@dataclass
class Runtime(Generic[SettingsT]):
    service: Service[SettingsT]
    settings: SettingsT
    database: Database
    redis: redis.Redis
    queue: procrastinate.App
    actions: Actions
    wakeup: Wakeup
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # What a service opened for itself (an API client, say), each kept under a name and closed when the app stops.
    resources: dict[str, object] = field(default_factory=dict)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def resource(self, name: str, make: Callable[[], T], close: Callable[[T], Awaitable[None]]) -> T:
        """The service's own long-lived object `name`, made on first use and closed by `close` at shutdown."""
        if name not in self.resources:
            made = make()
            self.resources[name] = made
            self._closers.append(lambda: close(made))
        # Stored under `name` by the `make` of the same call site, so it is a T (one name, one kind of object).
        return cast(T, self.resources[name])

    async def close_resources(self) -> None:
        while self._closers:
            await self._closers.pop()()
        self.resources.clear()


def get_runtime(request: Request) -> Runtime[ZapsSettings]:
    """The running service's parts, its settings seen as the fields every service has (`ZapsSettings`)."""
    runtime: Runtime[ZapsSettings] = request.app.state.runtime
    return runtime


def runtime_of(settings_class: type[SettingsT]) -> Callable[[Request], Runtime[SettingsT]]:
    """A FastAPI dependency for a service's own routes: the runtime with its settings typed as `settings_class`.

    Checked when called, so a route of one service mounted in another's app fails loudly instead of reading a
    field its settings do not have. A service declares its alias once:
    `RuntimeDep = Annotated[Runtime[Settings], Depends(runtime_of(Settings))]`.
    """

    def get(request: Request) -> Runtime[SettingsT]:
        runtime: Runtime[SettingsT] = request.app.state.runtime
        if not isinstance(runtime.settings, settings_class):
            raise TypeError(f"this app runs {type(runtime.settings).__name__}, not {settings_class.__name__}")
        return runtime

    return get


def get_database(request: Request) -> Database:
    return get_runtime(request).database


def get_redis(request: Request) -> redis.Redis:
    return get_runtime(request).redis


def get_settings(request: Request) -> ZapsSettings:
    return get_runtime(request).settings


# For routes any service can carry (health, admin, probes): they read only what every service's settings have.
RuntimeDep = Annotated[Runtime[ZapsSettings], Depends(get_runtime)]
DatabaseDep = Annotated[Database, Depends(get_database)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
SettingsDep = Annotated[ZapsSettings, Depends(get_settings)]
