"""test-service: proves the stack end to end (health, database, Redis, docs, a cron job)."""

import os

from zaps.service import JobContext, Service

from test_service.endpoints import router
from test_service.settings import Settings

service = Service(Settings, title="Zaps test-service")
service.include_router(router)


@service.cron(lambda settings: settings.heartbeat_cron)
async def heartbeat(job: JobContext) -> None:
    """Every minute (HEARTBEAT_CRON): write one heartbeat row for the tick, so anyone can see the scheduler is alive."""
    async with job.runtime.database.connection() as conn:
        await conn.execute(
            "INSERT INTO zaps_heartbeat (service, job, tick_at, worker) VALUES (%s, %s, to_timestamp(%s), %s)",
            (job.runtime.settings.service_name, "heartbeat", job.tick, f"pid-{os.getpid()}"),
        )


# Registers the automations on `service` (imported last: they use it).
from test_service import automations  # noqa: E402, F401
