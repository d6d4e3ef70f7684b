"""The heartbeat: a schedule that writes one row per tick, so anyone can see the scheduler is alive.

It fires on HEARTBEAT_CRON (UTC; a sixth field, seconds, is allowed), once per tick however many copies of the
service run: the stack test scales the service to two and counts one row per tick.
"""

import os

from zaps import Run, schedule

from test_service import repository
from test_service.service import service
from test_service.settings import Settings


@service.automation(schedule(cron_setting="heartbeat_cron"), max_attempts=3)
async def heartbeat(run: Run[Settings]) -> None:
    async with run.runtime.database.connection() as conn:
        await repository.record_heartbeat(
            conn,
            service=run.settings.service_name,
            job="heartbeat",
            tick_at=run.event.payload["tick"],
            worker=f"pid-{os.getpid()}",
        )
