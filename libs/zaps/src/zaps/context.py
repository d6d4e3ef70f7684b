"""What a running service holds: settings, the database, Redis and the job queue, reachable from handlers."""

from __future__ import annotations

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
