"""test-service settings: nothing beyond the shared ones but its name and path."""

from pydantic import Field
from zaps.settings import ZapsSettings


class Settings(ZapsSettings):
    service_name: str = "test"
    path_prefix: str = "/api/test"
    heartbeat_cron: str = Field(default="* * * * *", description="When the heartbeat job runs (UTC cron)")
