"""The heartbeat: a schedule that writes one row per tick, so anyone can see the scheduler is alive.

It fires on HEARTBEAT_CRON (UTC; a sixth field, seconds, is allowed), once per tick however many copies of the
service run: the stack test scales the service to two and counts one row per tick.
"""

import os

from zaps import Retry, Run, schedule

from test_service import repository
from test_service.service import service
from test_service.settings import Settings


# A missed beat is worth two quick tries, not hours of them: the next tick writes one anyway.
@service.automation(schedule(cron_setting="heartbeat_cron"), retry=Retry().up_to(3))
async def heartbeat(run: Run[Settings]) -> None:
    async with run.runtime.database.connection() as conn:
        await repository.record_heartbeat(
            conn,
            service=run.settings.service_name,
            job="heartbeat",
            tick_at=run.event.payload["tick"],
            worker=f"pid-{os.getpid()}",
        )
