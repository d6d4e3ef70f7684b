"""Where do a service's API docs (/docs, /redoc) get their scripts and styles? From the service itself.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN, so they are blank without internet. The
fastapi-offline package ships the same files; these routes serve them under the service's prefix and point the
pages at them. Routes rather than a static-files mount, because a mount does not find its files when Traefik has
stripped the prefix (production) but the root path still names it.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from zaps.errors import NotFound

ASSETS_PATH = "/docs-assets"
# The only files served, with their types: a name from the URL never becomes a path of its own.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
_ASSETS_DIR = files("fastapi_offline") / "static"


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to `app`, which must be built with `docs_url=None, redoc_url=None`."""
    router = APIRouter(include_in_schema=False)
    openapi_url = app.openapi_url or "/openapi.json"

    def asset(request: Request, name: str) -> str:
        # The root path is the service's prefix (`RequestContextMiddleware`), so the browser asks under it.
        return f"{request.scope.get('root_path', '')}{ASSETS_PATH}/{name}"

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{request.scope.get('root_path', '')}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=f"{request.scope.get('root_path', '')}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset(request, "redoc.standalone.js"),
            redoc_favicon_url=asset(request, "favicon.png"),
            with_google_fonts=False,  # the fonts come from Google's servers; the system's fonts do
        )

    @router.get(f"{ASSETS_PATH}/{{name}}")
    async def docs_asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise NotFound(f"no docs asset named {name!r}")
        path = _ASSETS_DIR / name
        # The package is installed as plain files (a wheel in site-packages), so the resource has a real path.
        return FileResponse(str(path), media_type=ASSETS[name], headers={"cache-control": "public, max-age=86400"})

    app.include_router(router)
