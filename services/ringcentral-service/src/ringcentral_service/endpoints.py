"""GET /status: is RingCentral configured and authenticated, and how much rate budget is left per group?

It reads only the shared store (no request to RingCentral, and never the token itself). Poll streams add their
own section through `report_stream`: the engine integration registers one reporter per stream (calls, messages).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from zaps.context import Runtime, runtime_of

from ringcentral_service.rate_limits import RateBudgets, describe
from ringcentral_service.settings import Settings
from ringcentral_service.store import SharedStore, namespace_for
from ringcentral_service.tokens import read_token

router = APIRouter(tags=["ringcentral"])

# The running service's parts, with its settings typed as this service's own `Settings`.
RuntimeDep = Annotated[Runtime[Settings], Depends(runtime_of(Settings))]
StreamReporter = Callable[[Runtime[Settings]], Awaitable[dict[str, Any]]]
stream_reporters: dict[str, StreamReporter] = {}


def report_stream(name: str) -> Callable[[StreamReporter], StreamReporter]:
    """Register what the status page shows for one poll stream (last poll, cursor age, events in 24 h)."""

    def register(reporter: StreamReporter) -> StreamReporter:
        stream_reporters[name] = reporter
        return reporter

    return register


class RateBudgetStatus(BaseModel):
    limit: int | None
    remaining: int | None = Field(description="Left in the current window, as RingCentral last reported it")
    window_s: float | None
    blocked_for_s: float = Field(description="Seconds before the next request of this group may be sent")
    observed_s_ago: float | None = Field(description="Age of these numbers; null until the group was called")


class Status(BaseModel):
    configured: bool
    mode: Literal["live", "demo"]
    server_url: str
    shadow_mode: bool
    call_log_level: Literal["extension", "account"]
    poll_interval_s: float
    authenticated: bool = Field(description="A usable access token is in the shared store")
    token_expires_in_s: int | None
    rate_limits: dict[str, RateBudgetStatus]
    streams: dict[str, dict[str, Any]]


def shared_store(settings: Settings, runtime: Runtime[Settings]) -> SharedStore | None:
    """The store the client of these settings uses, or None when no credentials are configured."""
    credentials = settings.ringcentral_credentials()
    if credentials is None:
        return None
    client_id, _, jwt = credentials
    return SharedStore(runtime.redis, namespace_for(settings.ringcentral_server_url, client_id, jwt.get_secret_value()))


@router.get("/status", summary="RingCentral connection: configured, authenticated, rate budget left")
async def status(runtime: RuntimeDep) -> Status:
    settings = runtime.settings
    store = shared_store(settings, runtime)
    now = time.time()
    authenticated = False
    expires_in: int | None = None
    rate_limits: dict[str, RateBudgetStatus] = {}
    if store is not None:
        token = await read_token(store)
        if token is not None and token.usable(now):
            authenticated = True
            expires_in = int(token.expires_at - now)
        budgets = await RateBudgets(store).snapshot()
        rate_limits = {group: RateBudgetStatus(**describe(budget, now)) for group, budget in budgets.items()}
    return Status(
        configured=settings.ringcentral_configured,
        mode="demo" if settings.ringcentral_demo else "live",
        server_url=settings.ringcentral_server_url,
        shadow_mode=settings.ringcentral_shadow_mode,
        call_log_level=settings.ringcentral_call_log_level,
        poll_interval_s=settings.ringcentral_poll_interval_seconds,
        authenticated=authenticated,
        token_expires_in_s=expires_in,
        rate_limits=rate_limits,
        streams={name: await reporter(runtime) for name, reporter in stream_reporters.items()},
    )
