"""test-service: proves the stack end to end (health, database, Redis, docs, a schedule); holds the worked example."""

from zaps.service import Service

from test_service.endpoints import router
from test_service.settings import Settings

# Every module that declares automations is listed here; Zaps imports them when the app is made, and refuses to
# start if another module of this package declares some without being listed.
service = Service(
    Settings,
    title="Zaps test-service",
    automations=["test_service.automations", "test_service.heartbeat", "test_service.inbound"],
)
service.include_router(router)
