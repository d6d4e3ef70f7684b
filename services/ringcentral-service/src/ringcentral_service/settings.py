"""ringcentral-service settings: the RingCentral app's credentials, where to reach it, and how often to poll.

Credentials may be left unset in development (the status page then says "not configured"); production refuses to
start without them unless RINGCENTRAL_DEMO points the service at its own simulator (with the simulator's
credentials: configured ones are then never used).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from zaps.settings import Environment, ZapsSettings

# call-log-sync is in the Heavy group: 10 requests a minute per user. One poll costs one request; polling every
# 6 s would spend all ten, and a spent budget stops the group for a whole window (measured: a 54 s stall every
# two minutes). 7 s leaves one request a minute to spare, which is still too little for backfills or recordings.
HEAVY_REQUESTS_PER_MINUTE = 10
MIN_POLL_INTERVAL_S = 7.0
DEFAULT_SERVER_URL = "https://platform.ringcentral.com"
DEFAULT_MEDIA_URL = "https://media.ringcentral.com"
MAX_SYNC_RECORDS_FLOOR = 250  # a backfill must hold at least what one full sync returns
# Credentials of the demo simulator: with RINGCENTRAL_DEMO on, the only ones used.
DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo-client-secret"
DEMO_JWT = "demo-jwt-credential"
# Demo mode's RingCentral host: requests to it go into the process (demo.transport), never onto the network; the
# reserved .invalid name makes sure nothing could answer them if they did.
DEMO_HOST = "http://ringcentral-demo.invalid"


class Settings(ZapsSettings):
    service_name: str = "ringcentral"
    path_prefix: str = "/api/ringcentral"

    ringcentral_server_url: str = Field(default=DEFAULT_SERVER_URL, description="RingCentral API entry point")
    ringcentral_media_url: str = Field(
        default=DEFAULT_MEDIA_URL, description="Entry point for attachments and recordings"
    )
    ringcentral_client_id: str | None = Field(default=None, description="Client ID of the JWT app")
    ringcentral_client_secret: SecretStr | None = Field(default=None, description="Client secret of the JWT app")
    ringcentral_jwt: SecretStr | None = Field(default=None, description="JWT credential of the user the app acts as")
    ringcentral_poll_interval_seconds: float = Field(
        default=20.0, description="How often call-log-sync and message-sync run (call log is Heavy: 10/min)"
    )
    ringcentral_demo: bool = Field(default=False, description="Talk to the built-in simulator, not RingCentral")
    ringcentral_shadow_mode: bool = Field(
        default=False, description="Automations record what they would do without doing it"
    )
    ringcentral_call_log_level: Literal["extension", "account"] = Field(
        default="extension", description="extension: the JWT user's calls; account: the whole company (admin)"
    )
    ringcentral_first_sync_lookback_minutes: int = Field(
        default=60, ge=0, le=30 * 24 * 60, description="The first poll turns calls and messages this old into events"
    )
    ringcentral_backfill_overlap_minutes: int = Field(
        default=240,
        ge=0,
        le=24 * 60,
        description="A full sync after a reset starts this long before the last sync (covers the longest call)",
    )
    ringcentral_backfill_max_records: int = Field(
        default=10_000,
        ge=MAX_SYNC_RECORDS_FLOOR,
        # Up to three events a call: the engine takes at most 50,000 from one poll.
        le=15_000,
        description="At most this many calls read by one backfill",
    )
    ringcentral_transcription_wait_seconds: float = Field(
        default=600, ge=0, description="A voicemail fires when transcribed, or after this wait without it"
    )
    ringcentral_automations_file: Path | None = Field(
        default=None, description="The TOML file of no-code automations (see infra/ringcentral/)"
    )
    ringcentral_webhook_url: str | None = Field(
        default=None, description="A webhook target an automation can name with url_setting (a CRM, a sheet)"
    )
    ringcentral_sms_from: str | None = Field(
        default=None, description="The company number SMS replies are sent from (E.164, e.g. +16505550100)"
    )

    @field_validator("ringcentral_automations_file", "ringcentral_sms_from", "ringcentral_webhook_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # compose passes an unset variable as ""

    @field_validator("ringcentral_server_url", "ringcentral_media_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://platform.ringcentral.com")
        return value

    @field_validator("ringcentral_poll_interval_seconds")
    @classmethod
    def _within_heavy_budget(cls, value: float) -> float:
        if value < MIN_POLL_INTERVAL_S:
            raise ValueError(
                f"{value:g} s is below {MIN_POLL_INTERVAL_S:g} s: call-log-sync is in RingCentral's Heavy rate-limit "
                f"group ({HEAVY_REQUESTS_PER_MINUTE} requests/min per user), so faster polls would be throttled"
            )
        return value

    _ignored_in_demo: list[str] = PrivateAttr(default_factory=list)

    @property
    def demo_url(self) -> str:
        """Where demo mode's client finds the simulator (served in-process under the service's prefix)."""
        return f"{DEMO_HOST}{self.path_prefix}/simulator"

    @property
    def ignored_in_demo(self) -> list[str]:
        """The RingCentral settings given but not used because RINGCENTRAL_DEMO is on."""
        return list(self._ignored_in_demo)

    @property
    def ringcentral_configured(self) -> bool:
        return self.ringcentral_credentials() is not None

    def ringcentral_credentials(self) -> tuple[str, SecretStr, SecretStr] | None:
        """(client id, client secret, JWT), or None when they are not configured."""
        if self.ringcentral_client_id and self.ringcentral_client_secret and self.ringcentral_jwt:
            return self.ringcentral_client_id, self.ringcentral_client_secret, self.ringcentral_jwt
        return None

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        names = {
            "RINGCENTRAL_CLIENT_ID": bool(self.ringcentral_client_id),
            "RINGCENTRAL_CLIENT_SECRET": bool(self.ringcentral_client_secret),
            "RINGCENTRAL_JWT": bool(self.ringcentral_jwt),
        }
        missing = [name for name, present in names.items() if not present]
        if self.ringcentral_demo:
            # The service's own simulator, reached inside the process, with the simulator's credentials: whatever
            # port the service serves on and whatever else is configured, real credentials go nowhere.
            urls = {
                "RINGCENTRAL_SERVER_URL": self.ringcentral_server_url != DEFAULT_SERVER_URL,
                "RINGCENTRAL_MEDIA_URL": self.ringcentral_media_url != DEFAULT_MEDIA_URL,
            }
            self._ignored_in_demo = [name for name, set_ in {**names, **urls}.items() if set_]
            self.ringcentral_server_url = self.ringcentral_media_url = self.demo_url
            self.ringcentral_client_id = DEMO_CLIENT_ID
            self.ringcentral_client_secret = SecretStr(DEMO_CLIENT_SECRET)
            self.ringcentral_jwt = SecretStr(DEMO_JWT)
            return self
        if missing and len(missing) < len(names):
            raise ValueError(f"{', '.join(missing)} must be set too: RingCentral needs all three credentials")
        if missing and self.environment is Environment.production and not self.ringcentral_demo:
            raise ValueError(
                "RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT must be set in production "
                "(or RINGCENTRAL_DEMO=true to run against the simulator)"
            )
        if (
            self.environment is Environment.production
            and not self.ringcentral_demo
            and not self.ringcentral_server_url.startswith("https://")
        ):
            raise ValueError("RINGCENTRAL_SERVER_URL must use https in production (RingCentral only answers on 443)")
        return self
