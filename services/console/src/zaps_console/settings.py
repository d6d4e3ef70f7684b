"""Console settings: the one admin account, the session, the sign-in throttle and where Grafana is."""

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from zaps.settings import Environment, ZapsSettings

from zaps_console import passwords


class ConsoleSettings(ZapsSettings):
    service_name: str = "console"
    path_prefix: str = "/console"

    console_admin_username: str = Field(default="admin", min_length=1, max_length=100)
    console_admin_password_hash: SecretStr | None = Field(
        default=None,
        description="scrypt$n$r$p$salt$hash, made by `zaps-console hash-password`; unset: nobody can sign in",
    )
    console_session_secret: SecretStr = Field(
        default=SecretStr("changeme"), description="Signs the session cookie and the CSRF tokens (32+ characters)"
    )
    console_session_ttl_s: int = Field(default=8 * 3600, ge=60, le=30 * 86400, description="A session lasts this long")
    # Counted per (username, address): a stranger's wrong guesses never slow the owner at his own address down
    # (throttle.py says why that is enough).
    console_login_attempts: int = Field(
        default=5, ge=1, description="Free sign-in attempts per username and address before each try must wait"
    )
    console_login_max_delay_s: int = Field(
        default=15 * 60, ge=1, description="The wait between tries doubles from 1 s up to this; never a lockout"
    )
    console_login_window_s: int = Field(
        default=24 * 3600, ge=1, description="A username and address's count is forgotten after this long unused"
    )
    # Unset under `make dev`, which runs no Grafana: the run page then says where the logs are instead of linking
    # to a Grafana that is not there. Compose sets it (docker-compose.yml), where Grafana runs.
    console_grafana_url: str | None = Field(default=None, description="Run pages link to its Explore; unset: no link")
    console_page_size: int = Field(default=50, ge=1, le=500, description="Runs per page")

    @field_validator("console_admin_password_hash")
    @classmethod
    def _hash_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            passwords.parse(value.get_secret_value())  # a typo stops start-up, not every sign-in
        return value or None

    @field_validator("console_grafana_url")
    @classmethod
    def _grafana_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_needs_an_admin(self) -> Self:
        if self.environment is not Environment.production:
            return self
        if self.console_admin_password_hash is None:
            raise ValueError("CONSOLE_ADMIN_PASSWORD_HASH must be set in production (zaps-console hash-password)")
        if len(self.console_session_secret.get_secret_value()) < 32:
            raise ValueError("CONSOLE_SESSION_SECRET must be at least 32 characters in production")
        return self

    @property
    def secure_cookies(self) -> bool:
        """Cookies are sent over HTTPS only in production (Traefik terminates TLS there; `make dev` is plain HTTP)."""
        return self.environment is Environment.production
