"""test-service settings: its name and path, the heartbeat schedule, and the worked example's secret and target."""

from typing import Self

from pydantic import Field, SecretStr, model_validator
from zaps.settings import Environment, ZapsSettings

INBOUND_SECRETS = (
    "stripe_webhook_secret",
    "github_webhook_secret",
    "shopify_webhook_secret",
    "slack_signing_secret",
    "vendor_webhook_secret",
    "contact_form_token",
)


class Settings(ZapsSettings):
    service_name: str = "test"
    path_prefix: str = "/api/test"
    heartbeat_cron: str = Field(default="* * * * *", description="When the heartbeat schedule fires (UTC cron)")
    # The worked example (automations.py): a signed webhook in, big orders out to ORDERS_FORWARD_URL.
    orders_webhook_secret: SecretStr = Field(default=SecretStr("changeme"), description="Signs /hooks/big-orders")
    orders_forward_url: str = Field(
        default="", description="Where big orders are sent (default: this service's own /sink, on PORT)"
    )
    orders_minimum_total: float = Field(default=100, description="Orders below this total are filtered out")
    # The inbound examples (inbound.py, docs/webhooks.md): unset, each webhook refuses everything (503), except in
    # development, where an unset one is `changeme` so that the docs' curl commands work against `make dev` as is.
    stripe_webhook_secret: SecretStr | None = Field(default=None, description="Signs /hooks/stripe-payments")
    github_webhook_secret: SecretStr | None = Field(default=None, description="Signs /hooks/github-pushes")
    shopify_webhook_secret: SecretStr | None = Field(default=None, description="Signs /hooks/shopify-orders")
    slack_signing_secret: SecretStr | None = Field(default=None, description="Signs /hooks/slack-events")
    vendor_webhook_secret: SecretStr | None = Field(default=None, description="Signs /hooks/vendor-events")
    contact_form_token: SecretStr | None = Field(default=None, description="In the URL of /hooks/contact-form/t/…")

    @model_validator(mode="after")
    def _inbound_examples_work_in_development(self) -> Self:
        if self.environment is Environment.development:
            for name in INBOUND_SECRETS:
                if getattr(self, name) is None:
                    setattr(self, name, SecretStr("changeme"))
        return self

    @model_validator(mode="after")
    def _forward_to_our_sink_by_default(self) -> Self:
        # Built from PORT and the prefix, so `PORT=8001 make dev` still forwards to the sink it serves.
        if not self.orders_forward_url:
            self.orders_forward_url = f"http://127.0.0.1:{self.port}{self.path_prefix}/sink"
        return self
