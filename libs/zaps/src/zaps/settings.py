"""Settings: the one place that reads the environment.

Every service subclasses `ZapsSettings` to add its own fields. `load_settings` turns a validation error into one
line per bad variable, so a mistake in `.env` stops start-up with a message, not a traceback.
"""

from __future__ import annotations

import ipaddress
import sys
from enum import StrEnum
from typing import Any, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that are fine to ship in `.env.example` and must never run in production.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "changethis", "secret", "password", "example"})


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ZapsSettings(BaseSettings):
    """What every service needs. Subclass it and add fields; set `service_name` and `path_prefix` defaults."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="zaps", description="Short name: logs, queues and run records carry it")
    path_prefix: str = Field(default="", description="Path Traefik routes to this service, e.g. /api/test")
    environment: Environment = Environment.development
    database_url: SecretStr | None = Field(
        default=None, description="postgresql://… ; unset in development means an embedded PostgreSQL"
    )
    redis_url: SecretStr | None = Field(default=None, description="redis://… ; unset means an in-memory stand-in")
    allow_foreign_tables: bool = Field(
        default=False,
        description="Migrate into a database that already holds other applications' tables (refused by default)",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port `zaps dev` (`make dev`) listens on")
    log_level: str = "INFO"
    admin_token: SecretStr = Field(default=SecretStr("changeme"), description="Bearer token of the admin API")
    code_version: str = Field(default="dev", validation_alias="ZAPS_CODE_VERSION")
    run_worker: bool = Field(default=True, description="Run the job worker inside the web process")
    worker_concurrency: int = Field(default=10, ge=1, le=100)
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)
    data_dir: str = Field(default=".zaps", description="Where development state (embedded PostgreSQL) lives")
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated networks (CIDR) whose X-Forwarded-For/-Proto are believed; empty: nobody's",
    )

    # Actions: where side effects go.
    slack_webhook_url: SecretStr | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    webhook_signing_secret: SecretStr | None = Field(default=None, description="Signs outbound webhooks")
    action_timeout_s: float = Field(default=10.0, gt=0, le=120)

    # Alerts: a dead run, or a trigger silent for too long, goes to each channel that is set.
    alert_slack_webhook_url: SecretStr | None = None
    alert_email_to: str | None = None
    alert_webhook_url: str | None = None
    alert_window_s: int = Field(default=3600, ge=60, description="At most one alert per automation per window")
    alert_gather_s: float = Field(
        default=60, ge=0, description="A dead run waits this long for others to share its alert"
    )
    alert_retry_first_s: float = Field(
        default=30, gt=0, description="First pause before an undelivered alert is sent again (then doubling)"
    )
    alert_max_attempts: int = Field(default=10, ge=1, description="Tries to deliver an alert before giving up")
    console_url: str = Field(
        default="http://localhost:8000/console", description="The console's public address, for links in alerts"
    )

    # The engine's clocks.
    tick_interval_s: float = Field(default=0.5, gt=0, le=10, description="How often schedules and polls are checked")
    housekeeping_interval_s: float = Field(default=30, gt=0)
    worker_heartbeat_s: float = Field(default=10, gt=0)
    stalled_after_s: float = Field(default=30, gt=0, description="A worker silent this long is dead; its jobs rerun")
    max_job_recoveries: int = Field(
        default=5, ge=1, description="A run whose job dies or fails unfinished this often is dead, not rerun"
    )
    run_retention_days: int = Field(default=30, ge=1, description="Succeeded and filtered runs are kept this long")
    dead_retention_days: int = Field(default=90, ge=1, description="Dead runs are kept this long")

    @field_validator("path_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("must start with '/', e.g. /api/test")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        networks = [part.strip() for part in value.split(",") if part.strip()]
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {network!r} (e.g. 172.30.0.0/24)") from None
        return ",".join(networks)

    @property
    def trusted_proxy_networks(self) -> list[str]:
        return [part for part in self.trusted_proxies.split(",") if part]

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis:// or rediss://")
        return value

    @model_validator(mode="after")
    def _no_placeholders_outside_development(self) -> Self:
        if self.environment is not Environment.production:
            return self
        for name, value in self:
            if isinstance(value, SecretStr) and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"{name.upper()} is a placeholder secret; set a real value in production")
        if self.database_url is None:
            raise ValueError("DATABASE_URL must be set in production (the embedded database is for development)")
        return self

    def secret_values(self) -> list[str]:
        """Every secret this configuration holds, for the log redactor."""
        secrets = []
        for _, value in self:
            if isinstance(value, SecretStr) and len(value.get_secret_value()) >= 4:
                secrets.append(value.get_secret_value())
        return secrets


# "A service's own settings class": the library's generic types (`Service`, `Runtime`, `Run`, `PollContext`) carry
# it, so `run.settings.orders_forward_url` is checked by mypy against the class that declares it.
SettingsT = TypeVar("SettingsT", bound=ZapsSettings)


class SettingsError(SystemExit):
    """Start-up stops here: the message names each bad variable on one line."""


def describe_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        if not name:
            lines.append(f"configuration error: {message}")
        elif item["type"] == "missing":
            lines.append(f"configuration error: {name} is required but not set")
        else:
            lines.append(f"configuration error: {name}: {message}")
    return "\n".join(lines)


def load_settings(cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build settings from the environment; on a bad value print one line per variable and exit."""
    try:
        return cls(**overrides)
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        raise SettingsError(2) from None
