"""test-service settings: its name and path, the heartbeat schedule, and the worked example's secret and target."""

from typing import Self

from pydantic import Field, SecretStr, model_validator
from zaps.settings import ZapsSettings


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

    @model_validator(mode="after")
    def _forward_to_our_sink_by_default(self) -> Self:
        # Built from PORT and the prefix, so `PORT=8001 make dev` still forwards to the sink it serves.
        if not self.orders_forward_url:
            self.orders_forward_url = f"http://127.0.0.1:{self.port}{self.path_prefix}/sink"
        return self
