"""console: the web console of Zaps, under /console (sign-in at /console/login).

It has no automations of its own: it reads and replays the runs of every service from the shared database.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware
from zaps.actions import Actions
from zaps.service import Service

from zaps_console.endpoints import api, pages
from zaps_console.gate import SessionGate
from zaps_console.settings import ConsoleSettings
from zaps_console.web import Console


class ConsoleService(Service[ConsoleSettings]):
    """A `Service` whose app has the session gate in front of every route (docs and 404s included)."""

    def create_app(self, settings: ConsoleSettings | None = None, *, actions: Actions | None = None) -> FastAPI:
        settings = settings or self.load_settings()
        app = super().create_app(settings, actions=actions)
        console = Console(settings)
        app.state.console = console
        # Appended, so it runs inside zaps' RequestContextMiddleware: the prefix (root path) and the request id are
        # set by the time the gate looks at a request.
        app.user_middleware.append(Middleware(SessionGate, console=console))
        return app


service = ConsoleService(ConsoleSettings, title="Zaps console")
service.include_router(pages)
service.include_router(api)
