"""ringcentral-service: RingCentral calls, voicemails and SMS, polled and acted on (served under /api/ringcentral).

Today it holds the client (`client`), the status page (`endpoints`) and, in demo mode, the simulator (`demo`);
the pollers and automations register here once the engine's poll API exists.
"""

from zaps.service import Service

from ringcentral_service import demo
from ringcentral_service.endpoints import router
from ringcentral_service.settings import Settings

service = Service(Settings, title="Zaps ringcentral-service")
service.include_router(router)
service.include_router(demo.router)
