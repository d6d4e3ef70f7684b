"""An SMS whose answer never came (the simulator takes it, then stalls past the client's timeout) is unsure, not
retried blindly; the check finds it in the message store, so it is not sent again."""

from datetime import UTC, datetime

import pytest
from ringcentral_service.errors import RingCentralError
from ringcentral_service.simulator import SimulatorConfig
from ringcentral_service.sms import as_run_error, find_sent_sms
from zaps.retry import UnsureError
from zaps.testing.waiting import eventually

CONFIG = SimulatorConfig()
CALLER = "+14155550123"
TEXT = "Sorry we missed you"


async def test_an_sms_sent_without_an_answer_is_unsure_and_found_in_the_message_store(sim, make_client):
    client = make_client(timeout_s=0.5)
    sender = CONFIG.phone_numbers[0]
    since = datetime.now(UTC)
    await sim.fault(operation="createSMSMessage", delay_s=1.0)  # no status: it is taken, after the delay
    with pytest.raises(RingCentralError) as raised:
        await client.send_sms(from_number=sender, to_number=CALLER, text=TEXT, idempotency_key="k")
    assert isinstance(as_run_error(raised.value), UnsureError)
    await eventually(sim.sent_sms, lambda sent: len(sent) == 1)

    found = await find_sent_sms(client, from_number=sender, to=CALLER, text=TEXT, since=since)
    assert found is not None and found["message_id"] == (await sim.sent_sms())[0]["id"]
    assert await find_sent_sms(client, from_number=sender, to=CALLER, text="another text", since=since) is None
    assert await find_sent_sms(client, from_number=sender, to="+14155550999", text=TEXT, since=since) is None
    assert len(await sim.sent_sms()) == 1
