"""What a running service holds: settings, the database, Redis and the job queue, reachable from handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import procrastinate
import redis.asyncio as redis
from fastapi import Depends, Request

from zaps.actions import Actions
from zaps.db import Database
from zaps.engine.wakeup import Wakeup
from zaps.settings import ZapsSettings

if TYPE_CHECKING:
    from zaps.service import Service


@dataclass
class Runtime:
    service: Service
    settings: ZapsSettings
    database: Database
    redis: redis.Redis
    queue: procrastinate.App
    actions: Actions
    wakeup: Wakeup
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # What a service opened for itself (an API client, say), each kept under a name and closed when the app stops.
    resources: dict[str, Any] = field(default_factory=dict)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def resource(self, name: str, make: Callable[[], Any], close: Callable[[Any], Awaitable[None]]) -> Any:
        """The service's own long-lived object `name`, made on first use and closed by `close` at shutdown."""
        if name not in self.resources:
            made = self.resources[name] = make()
            self._closers.append(lambda: close(made))
        return self.resources[name]

    async def close_resources(self) -> None:
        while self._closers:
            await self._closers.pop()()
        self.resources.clear()


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_database(request: Request) -> Database:
    return get_runtime(request).database


def get_redis(request: Request) -> redis.Redis:
    return get_runtime(request).redis


def get_settings(request: Request) -> Any:
    return get_runtime(request).settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DatabaseDep = Annotated[Database, Depends(get_database)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
SettingsDep = Annotated[ZapsSettings, Depends(get_settings)]
