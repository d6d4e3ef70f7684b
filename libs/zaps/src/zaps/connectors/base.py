"""What every connector shares: credentials read as settings, checked at start, and one client per process.

A connector is a class with a `name`, a `settings_class` (a `ConnectorSettings` whose fields are read from the
environment or `.env`, secrets as `SecretStr`), `from_environment()` and `aclose()`. An automation that uses it
says so (`@service.automation(trigger, uses=[GoogleSheets])`): the service then refuses to start while one of its
variables is missing, with an error naming it, instead of failing at the first event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypeVar

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from zaps.logging import redactor

if TYPE_CHECKING:  # for annotations only: the engine imports this module
    from zaps.context import Runtime

S = TypeVar("S", bound="ConnectorSettings")
C = TypeVar("C", bound="Connector")


class ConnectorSettings(BaseSettings):
    """A connector's credentials and options, read from the environment (and `.env`) by their upper-case names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")


class ConnectorSettingsError(Exception):
    """A connector's settings are missing or invalid; the message names each variable and never its value."""


class Connector(Protocol):
    name: ClassVar[str]  # as the owner knows it: "Google Sheets"
    settings_class: ClassVar[type[ConnectorSettings]]

    @classmethod
    def from_environment(cls) -> Self: ...

    async def aclose(self) -> None: ...


def load_settings(settings_class: type[S], connector: str) -> S:
    """`settings_class()` read from the environment, or a `ConnectorSettingsError` naming what is wrong. Its secrets
    are added to the log redactor.

    The message is built from the field names and error kinds only: pydantic's own message would quote the value,
    which may be a secret."""
    try:
        loaded = settings_class()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            variable = ".".join(str(part) for part in item["loc"]).upper() or "?"
            what = "is not set" if item["type"] == "missing" else f"is invalid ({item['type']})"
            problems.append(f"{variable} {what}")
        raise ConnectorSettingsError(f"{connector}: " + "; ".join(problems)) from None
    # From now on these values are replaced by a marker in every log line, like the service's own secrets.
    redactor.add(value.get_secret_value() for value in loaded.__dict__.values() if isinstance(value, SecretStr))
    return loaded


def settings_problems(connectors: list[type[Connector]] | tuple[type[Connector], ...]) -> list[str]:
    """One line per connector whose settings do not load (for the start-up check)."""
    problems = []
    for each in connectors:
        try:
            load_settings(each.settings_class, each.name)
        except ConnectorSettingsError as error:
            problems.append(str(error))
    return problems


def connector(runtime: Runtime[Any], connector_class: type[C]) -> C:
    """The process's one client of `connector_class`, made on first use and closed when the service stops."""

    async def close(made: C) -> None:
        await made.aclose()

    return runtime.resource(f"zaps.connector:{connector_class.__qualname__}", connector_class.from_environment, close)
