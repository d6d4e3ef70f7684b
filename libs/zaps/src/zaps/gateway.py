"""One ASGI app that serves several services under their path prefixes, as Traefik does in production.

`make dev` runs every service in one process on port 8000 with this; the apps see the same paths (`/api/test/…`)
as behind Traefik, so every URL works the same in both.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send


class Gateway:
    def __init__(self, apps: dict[str, FastAPI]) -> None:
        # Longest prefix first, so /api/test-extra never lands on /api/test.
        self.apps = dict(sorted(apps.items(), key=lambda item: len(item[0]), reverse=True))

    def route(self, path: str) -> FastAPI | None:
        for prefix, app in self.apps.items():
            if path == prefix or path.startswith(prefix + "/"):
                return app
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        app = self.route(scope.get("path", ""))
        if app is not None:
            await app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        body: dict[str, Any] = {"services": {prefix: f"{prefix}/docs" for prefix in sorted(self.apps)}}
        status = 200 if scope["path"] == "/" else 404
        if status == 404:
            body = {"error": {"code": "not_found", "message": "no service under this path"}, **body}
        await JSONResponse(body, status_code=status)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with AsyncExitStack() as stack:
            try:
                for app in self.apps.values():
                    await stack.enter_async_context(app.router.lifespan_context(app))
            except BaseException as error:
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                raise
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})
