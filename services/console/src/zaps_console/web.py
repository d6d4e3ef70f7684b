"""What every console page needs: the settings, the session signer, the templates, and the typed dependencies.

`Console` is built once per app (in `ConsoleService.create_app`) and kept on `app.state.console`; handlers reach it
and the signed-in session through `ConsoleDep` and `SessionDep`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from zaps.engine.statuses import RunStatus
from zaps.errors import Unauthorized
from zaps.run_summary import format_duration

from zaps_console import views
from zaps_console.sessions import Session, SessionSigner
from zaps_console.settings import ConsoleSettings

PACKAGE = Path(__file__).parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
# Scope keys the gate fills for the handlers behind it.
SESSION_KEY = "zaps_console.session"
FORM_KEY = "zaps_console.form"


def base_path(request: Request) -> str:
    """The console's prefix as this request reached it (RequestContextMiddleware sets it as the root path)."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def build_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template is HTML: payloads, errors and headers are escaped on the way out
        undefined=jinja2.StrictUndefined,  # a typo in a template fails its test instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        status_look=views.status_look,
        format_time=views.format_time,
        time_ago=views.time_ago,
        format_duration=format_duration,
        run_duration=views.run_duration,
        pretty_json=views.pretty_json,
        describe_trigger=views.describe_trigger,
        success_rate=views.success_rate,
        query_string=views.query_string,
        is_replayable=views.is_replayable,
        is_terminal=views.is_terminal,
        RunStatus=RunStatus,  # templates name a status as RunStatus.DEAD, never as a string of their own
    )
    return Jinja2Templates(env=env)


class Console:
    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        password_hash = settings.console_admin_password_hash
        self.password_hash = password_hash.get_secret_value() if password_hash else None
        self.signer = SessionSigner(
            secret=settings.console_session_secret.get_secret_value(),
            password_hash=self.password_hash or "",
            ttl_s=settings.console_session_ttl_s,
        )
        self.templates = build_templates()

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        session: Session | None = request.scope.get(SESSION_KEY)
        page = {
            "base": base_path(request),
            "session": session,
            "csrf_token": self.signer.csrf_token(session) if session else "",
            **(context or {}),
        }
        return self.templates.TemplateResponse(request, template, page, status_code=status_code, headers=headers)

    def set_cookie(self, response: Response, request: Request, name: str, value: str, *, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=base_path(request) or "/",  # only the console's own paths carry it
            httponly=True,  # scripts never read it
            secure=self.settings.secure_cookies,
            samesite="lax",  # sent when following a link to the console, never with another site's POST
        )

    def delete_cookie(self, response: Response, request: Request, name: str) -> None:
        response.delete_cookie(
            name, path=base_path(request) or "/", httponly=True, secure=self.settings.secure_cookies, samesite="lax"
        )


def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def get_session(request: Request) -> Session:
    """The signed-in admin. The gate already refused requests without a session; this is the second lock."""
    session: Session | None = request.scope.get(SESSION_KEY)
    if session is None:
        raise Unauthorized("sign in first")
    return session


def get_form(request: Request) -> dict[str, str]:
    """The POSTed form the gate read (and checked for its CSRF token)."""
    form: dict[str, str] = request.scope.get(FORM_KEY, {})
    return form


ConsoleDep = Annotated[Console, Depends(get_console)]
SessionDep = Annotated[Session, Depends(get_session)]
FormDep = Annotated[dict[str, str], Depends(get_form)]
