"""test-service settings: its name and path, the heartbeat schedule, and the worked example's secret and target."""

from pydantic import Field, SecretStr
from zaps.settings import ZapsSettings


class Settings(ZapsSettings):
    service_name: str = "test"
    path_prefix: str = "/api/test"
    heartbeat_cron: str = Field(default="* * * * *", description="When the heartbeat schedule fires (UTC cron)")
    # The worked example (automations.py): a signed webhook in, big orders out to ORDERS_FORWARD_URL.
    orders_webhook_secret: SecretStr = Field(default=SecretStr("changeme"), description="Signs /hooks/big-orders")
    orders_forward_url: str = Field(
        default="http://127.0.0.1:8000/api/test/sink", description="Where big orders are sent (default: our sink)"
    )
    orders_minimum_total: float = Field(default=100, description="Orders below this total are filtered out")
