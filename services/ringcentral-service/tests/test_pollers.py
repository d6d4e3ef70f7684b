"""The two poll streams against the simulator (a real server on 127.0.0.1): first run (FSync), increments (ISync),
overflow and resets (FSync again, with a backfill), late changes, the same record in two polls, and the cost of an
idle poll."""

from datetime import UTC, datetime, timedelta

import pytest
from ringcentral_service.events import (
    CALL_COMPLETED,
    CALL_MISSED,
    CALL_RECORDING_READY,
    SMS_RECEIVED,
    SMS_SENT,
    VOICEMAIL_RECEIVED,
)
from ringcentral_service.pollers import poll_calls, poll_messages
from ringcentral_service.settings import Settings


@pytest.fixture
def settings(sim_credentials):
    def build(**overrides):
        return Settings(**{**sim_credentials, "_env_file": None, **overrides})

    return build


def keyed(result):
    return sorted((event.kind, event.key) for event in result.events)


async def sync_requests(sim, operation="syncUserCallLog"):
    return (await sim.counts())["by_operation"].get(operation, 0)


async def test_the_first_poll_is_a_full_sync_then_increments_cost_one_request(sim, make_client, settings):
    client = make_client()
    missed = (await sim.add_call(direction="Inbound", result="Missed"))["id"]
    answered = (await sim.add_call(direction="Inbound", result="Accepted"))["id"]
    outbound = (await sim.add_call(direction="Outbound"))["id"]
    now = datetime.now(UTC)

    first = await poll_calls(client, settings(), None, now)
    assert keyed(first) == sorted(
        [
            (CALL_COMPLETED, f"call:{missed}"),
            (CALL_COMPLETED, f"call:{answered}"),
            (CALL_COMPLETED, f"call:{outbound}"),
            (CALL_MISSED, f"missed:{missed}"),
        ]
    )
    assert first.cursor["sync_token"] and first.cursor["level"] == "extension"
    assert [dict(e.query).get("syncType") for e in sim.exchanges("syncUserCallLog")] == ["FSync"]

    before = await sync_requests(sim)
    idle = await poll_calls(client, settings(), first.cursor, now)
    assert idle.events == [] and await sync_requests(sim) - before == 1  # an idle poll is one request

    late = (await sim.add_call(direction="Inbound", voicemail=True))["id"]
    second = await poll_calls(client, settings(), idle.cursor, now)
    assert keyed(second) == [(CALL_COMPLETED, f"call:{late}"), (CALL_MISSED, f"missed:{late}")]
    assert (
        sim.exchanges("syncUserCallLog")[-1].query
        and dict(sim.exchanges("syncUserCallLog")[-1].query)["syncType"] == "ISync"
    )


async def test_the_look_back_bounds_what_the_first_poll_turns_into_events(sim, make_client, settings):
    client = make_client()
    old_start = (datetime.now(UTC) - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    await sim.add_call(direction="Inbound", result="Missed", startTime=old_start)
    recent = (await sim.add_call(direction="Inbound", result="Missed"))["id"]

    first = await poll_calls(client, settings(ringcentral_first_sync_lookback_minutes=60), None, datetime.now(UTC))

    assert {event.key for event in first.events} == {f"call:{recent}", f"missed:{recent}"}


async def test_more_than_250_changes_fall_back_to_a_full_sync_and_a_backfill_that_misses_nothing(
    sim, make_client, settings
):
    client = make_client()
    first = await poll_calls(client, settings(), None, datetime.now(UTC))
    ids = await sim.add_calls(300, direction="Outbound")

    after = await poll_calls(client, settings(), first.cursor, datetime.now(UTC))

    completed = {event.key for event in after.events if event.kind == CALL_COMPLETED}
    assert completed == {f"call:{call_id}" for call_id in ids}
    kinds = [dict(e.query).get("syncType") for e in sim.exchanges("syncUserCallLog")]
    assert kinds == ["FSync", "ISync", "FSync"]  # the ISync was refused (more than 250 waiting)
    assert sim.exchanges("readUserCallLog")  # the full sync held 250, the call log list the rest
    assert after.cursor["sync_token"] != first.cursor["sync_token"]


async def test_a_reset_of_the_sync_token_gives_a_full_sync_whose_repeats_keep_their_keys(sim, make_client, settings):
    client = make_client()
    call_id = (await sim.add_call(direction="Inbound", result="Missed"))["id"]
    first = await poll_calls(client, settings(), None, datetime.now(UTC))
    await sim.reset_sync("CLG-102")

    again = await poll_calls(client, settings(), first.cursor, datetime.now(UTC))

    # The same call comes back from the new full sync, under the same keys: the engine stores it once.
    assert keyed(again) == keyed(first) == [(CALL_COMPLETED, f"call:{call_id}"), (CALL_MISSED, f"missed:{call_id}")]


async def test_a_recording_that_arrives_later_fires_its_own_event_and_nothing_else_anew(sim, make_client, settings):
    client = make_client()
    call_id = (await sim.add_call(direction="Inbound", result="Accepted"))["id"]
    first = await poll_calls(client, settings(), None, datetime.now(UTC))
    await sim.update_call(call_id, recording=True)

    later = await poll_calls(client, settings(), first.cursor, datetime.now(UTC))

    assert (CALL_RECORDING_READY, f"recording:{call_id}") in keyed(later)
    # call.completed comes back with the update, under the key the engine already holds: it does not run again.
    assert (CALL_COMPLETED, f"call:{call_id}") in keyed(first)


async def test_a_changed_call_log_level_starts_a_full_sync_at_that_level(sim, make_client, settings):
    client = make_client()
    first = await poll_calls(client, settings(), None, datetime.now(UTC))
    await poll_calls(client, settings(ringcentral_call_log_level="account"), first.cursor, datetime.now(UTC))
    assert [dict(e.query).get("syncType") for e in sim.exchanges("syncAccountCallLog")] == ["FSync"]


async def test_messages_give_sms_events_and_the_overlap_between_windows_repeats_keys(sim, make_client, settings):
    client = make_client()
    inbound = (await sim.add_message(type="SMS", direction="Inbound", text="Are you open today?"))["id"]
    outbound = (await sim.add_message(type="SMS", direction="Outbound", text="Yes, until 6"))["id"]

    first = await poll_messages(client, settings(), None, datetime.now(UTC))
    again = await poll_messages(client, settings(), first.cursor, datetime.now(UTC))

    assert keyed(first) == sorted([(SMS_RECEIVED, f"sms:{inbound}"), (SMS_SENT, f"sms:{outbound}")])
    (received,) = [event for event in first.events if event.kind == SMS_RECEIVED]
    assert received.payload["subject"] == "Are you open today?"
    assert received.payload["from"]["number"] == "+14155550123"
    # The next window overlaps the last by 5 s: the same messages return with the same keys (one event each).
    assert set(keyed(again)) <= set(keyed(first))


async def test_a_voicemail_waits_for_its_transcription(sim, make_client, settings):
    client = make_client()
    now = datetime.now(UTC)
    message_id = (await sim.add_message(type="VoiceMail", direction="Inbound"))["id"]

    first = await poll_messages(client, settings(), None, now)
    assert first.events == []
    assert str(message_id) in first.cursor["pending_voicemails"]  # held in the cursor, committed with the poll

    await sim.update_message(message_id, transcription="Hi, please call me back about the quote.")
    second = await poll_messages(client, settings(), first.cursor, now + timedelta(seconds=20))

    assert keyed(second) == [(VOICEMAIL_RECEIVED, f"voicemail:{message_id}")]
    payload = second.events[0].payload
    assert payload["transcription_status"] == "Completed" and payload["transcription_uri"]
    assert second.cursor["pending_voicemails"] == {}


async def test_a_voicemail_without_a_transcription_fires_after_the_wait(sim, make_client, settings):
    client = make_client()
    now = datetime.now(UTC)
    message_id = (await sim.add_message(type="VoiceMail", direction="Inbound"))["id"]
    patient = settings(ringcentral_transcription_wait_seconds=300)

    first = await poll_messages(client, patient, None, now)
    still = await poll_messages(client, patient, first.cursor, now + timedelta(seconds=120))
    late = await poll_messages(client, patient, still.cursor, now + timedelta(seconds=301))

    assert first.events == [] and still.events == []
    assert keyed(late) == [(VOICEMAIL_RECEIVED, f"voicemail:{message_id}")]
    assert late.events[0].payload["transcription_timed_out"] is True


async def test_a_backfill_stops_at_its_limit_and_says_so(sim, make_client, settings, caplog):
    client = make_client()
    first = await poll_calls(client, settings(), None, datetime.now(UTC))
    await sim.add_calls(300, direction="Outbound")

    after = await poll_calls(client, settings(ringcentral_backfill_max_records=250), first.cursor, datetime.now(UTC))

    assert len([event for event in after.events if event.kind == CALL_COMPLETED]) == 250
    assert "backfill stopped at its limit" in caplog.text
