"""call-log-sync and message-sync with real sync-token semantics, backfill by pages, SMS sending and media."""

from datetime import UTC, datetime, timedelta

import pytest
from ringcentral_service.errors import Rejected, SyncTokenInvalid

LONG_AGO = datetime.now(UTC) - timedelta(days=7)


async def test_fsync_then_isync_returns_only_the_changes(sim, make_client):
    client = make_client()
    await sim.add_calls(3)
    first = await client.call_log_sync("FSync", date_from=LONG_AGO)
    new_call = await sim.add_call(direction="Outbound")

    changes = await client.call_log_sync("ISync", sync_token=first.sync_token)
    nothing = await client.call_log_sync("ISync", sync_token=changes.sync_token)

    assert (first.sync_type, len(first.records)) == ("FSync", 3)
    assert [r["id"] for r in changes.records] == [new_call["id"]]
    assert changes.sync_type == "ISync"
    assert nothing.records == []
    assert len({first.sync_token, changes.sync_token, nothing.sync_token}) == 3


async def test_fsync_returns_the_newest_records_up_to_record_count(sim, make_client):
    client = make_client()
    await sim.add_calls(5)

    result = await client.call_log_sync("FSync", record_count=2)

    assert len(result.records) == 2
    starts = [r["startTime"] for r in result.records]
    assert starts == sorted(starts, reverse=True)


async def test_a_recording_added_later_brings_the_call_back_with_a_new_version(sim, make_client):
    client = make_client()
    call = await sim.add_call(direction="Inbound", result="Accepted", duration=60)
    first = await client.call_log_sync("FSync")
    await sim.advance(1)  # a later lastModifiedTime, even on a fast machine
    await sim.update_call(call["id"], recording=True)

    changes = await client.call_log_sync("ISync", sync_token=first.sync_token)

    (before,) = first.records
    (after,) = changes.records
    assert after["id"] == before["id"]
    assert "recording" not in before
    assert after["recording"]["contentUri"].endswith("/content")
    assert after["lastModifiedTime"] > before["lastModifiedTime"]


async def test_more_than_250_changes_make_isync_ask_for_a_new_fsync(sim, make_client):
    client = make_client()
    first = await client.call_log_sync("FSync")
    await sim.add_calls(251)

    with pytest.raises(SyncTokenInvalid) as raised:
        await client.call_log_sync("ISync", sync_token=first.sync_token)
    again = await client.call_log_sync("FSync")

    assert raised.value.status == 400
    assert "max sync record number limit is exceeded" in str(raised.value)
    assert len(again.records) == 250


async def test_exactly_250_changes_still_fit_in_one_isync(sim, make_client):
    client = make_client()
    first = await client.call_log_sync("FSync")
    await sim.add_calls(250)

    changes = await client.call_log_sync("ISync", sync_token=first.sync_token)

    assert len(changes.records) == 250


@pytest.mark.parametrize("code", ["CLG-101", "CLG-102", "CLG-103", "CLG-104", "CLG-105"])
async def test_a_call_log_reset_raises_sync_token_invalid(sim, make_client, code):
    client = make_client()
    first = await client.call_log_sync("FSync")
    await sim.reset_sync(code)

    with pytest.raises(SyncTokenInvalid) as raised:
        await client.call_log_sync("ISync", sync_token=first.sync_token)

    assert raised.value.error_codes == (code,)
    assert not raised.value.retryable


async def test_fsync_arguments_are_checked_before_anything_is_sent(sim, make_client):
    client = make_client()

    with pytest.raises(ValueError, match="between 1 and 250"):
        await client.call_log_sync("FSync", record_count=251)
    with pytest.raises(ValueError, match="syncToken"):
        await client.call_log_sync("ISync")
    with pytest.raises(ValueError, match="timezone"):
        await client.call_log_sync("FSync", date_from=datetime(2026, 1, 1))  # naive on purpose

    assert (await sim.counts())["total"] == 0


async def test_account_level_sync_sees_every_extension_and_extension_level_only_its_own(sim, make_client):
    client = make_client()
    await sim.add_call()
    await sim.add_call(extensionId="400000102")

    own = await client.call_log_sync("FSync", level="extension")
    company = await client.call_log_sync("FSync", level="account")

    assert len(own.records) == 1
    assert len(company.records) == 2
    assert {e.operation for e in sim.exchanges() if e.operation != "getToken"} == {
        "syncUserCallLog",
        "syncAccountCallLog",
    }


async def test_missed_status_group_keeps_only_unanswered_inbound_calls(sim, make_client):
    client = make_client()
    await sim.add_call(direction="Inbound", result="Missed")
    await sim.add_call(direction="Inbound", result="Accepted", duration=30)
    await sim.add_call(direction="Outbound")

    missed = await client.call_log_sync("FSync", status_group="Missed")

    assert [r["result"] for r in missed.records] == ["Missed"]


async def test_call_log_backfill_follows_the_pages_to_the_end(sim, make_client):
    client = make_client()
    await sim.add_calls(5)

    ids = [record["id"] async for record in client.iter_call_log(date_from=LONG_AGO, per_page=2)]

    assert len(ids) == len(set(ids)) == 5
    pages = sim.exchanges("readUserCallLog")
    assert len(pages) == 3
    assert ("page", "3") in pages[-1].query


async def test_a_late_voicemail_transcription_comes_back_in_message_isync(sim, make_client):
    await sim.reset(message_sync_overlap_s=0)
    client = make_client()
    call = await sim.add_call(voicemail=True)
    first = await client.message_sync("FSync", date_from=LONG_AGO)
    await sim.advance(1)
    await sim.update_message(call["messageId"], transcription="Hi, please call me back.")

    changes = await client.message_sync("ISync", sync_token=first.sync_token)

    (pending,) = first.records
    (done,) = changes.records
    assert pending["vmTranscriptionStatus"] == "InProgress"
    assert done["vmTranscriptionStatus"] == "Completed"
    assert done["lastModifiedTime"] > pending["lastModifiedTime"]
    transcript = next(a for a in done["attachments"] if a["type"] == "AudioTranscription")
    media = await client.get_media(transcript["uri"])
    assert media.content == b"Hi, please call me back."


async def test_message_isync_windows_overlap_so_a_record_can_come_twice(sim, make_client):
    client = make_client()  # the default 5 s overlap, as RingCentral documents
    first = await client.message_sync("FSync")
    sms = await sim.add_message(type="SMS", text="first")

    once = await client.message_sync("ISync", sync_token=first.sync_token)
    twice = await client.message_sync("ISync", sync_token=once.sync_token)

    assert [r["id"] for r in once.records] == [sms["id"]]
    assert [r["id"] for r in twice.records] == [sms["id"]], "consumers must deduplicate on id + lastModifiedTime"


async def test_message_fsync_filters_by_type_and_reports_older_records(sim, make_client):
    client = make_client()
    await sim.add_message(type="SMS")
    await sim.add_message(type="SMS")
    await sim.add_message(type="Fax")

    result = await client.message_sync("FSync", message_types=["SMS"], record_count=1)

    assert [r["type"] for r in result.records] == ["SMS"]
    assert result.older_records_exist
    assert sim.exchanges("syncMessages")[0].query.count(("messageType", "SMS")) == 1


async def test_a_message_store_reset_raises_sync_token_invalid(sim, make_client):
    client = make_client()
    first = await client.message_sync("FSync")
    await sim.reset_sync()

    with pytest.raises(SyncTokenInvalid) as raised:
        await client.message_sync("ISync", sync_token=first.sync_token)

    assert raised.value.error_codes == ("MSG-333",)


async def test_send_sms_reaches_the_simulator_once_and_shows_up_as_outbound(sim, make_client):
    client = make_client()
    first = await client.message_sync("FSync")

    message = await client.send_sms(
        from_number="+16505550100", to_number="+14155550123", text="Sorry we missed you", idempotency_key="k-1"
    )
    changes = await client.message_sync("ISync", sync_token=first.sync_token)

    assert message["messageStatus"] == "Queued"
    assert await sim.sent_sms() == [
        {"id": message["id"], "from": "+16505550100", "to": ["+14155550123"], "text": "Sorry we missed you"}
    ]
    assert [(r["id"], r["direction"]) for r in changes.records] == [(message["id"], "Outbound")]


async def test_send_sms_refuses_text_over_1000_utf16_units_without_sending(sim, make_client):
    client = make_client()

    with pytest.raises(ValueError, match="1000"):
        await client.send_sms(from_number="+16505550100", to_number="+1415", text="😀" * 501, idempotency_key="k")

    assert await sim.sent_sms() == []


async def test_send_sms_from_a_number_the_extension_does_not_own_is_a_permanent_error(sim, make_client):
    client = make_client()

    with pytest.raises(Rejected) as raised:
        await client.send_sms(from_number="+19995550000", to_number="+14155550123", text="hi", idempotency_key="k")

    assert raised.value.error_codes == ("MSG-304",)


async def test_media_comes_from_the_media_host_and_links_elsewhere_are_refused(sim, make_client):
    client = make_client()
    call = await sim.add_call(voicemail=True, recording=True)
    records = (await client.call_log_sync("FSync")).records
    voicemail = (await client.message_sync("FSync")).records[0]

    recording = await client.get_media(records[0]["recording"]["contentUri"])
    audio = await client.get_media(voicemail["attachments"][0]["uri"])
    with pytest.raises(Rejected, match="outside the configured"):
        await client.get_media("https://attacker.example/restapi/v1.0/account/~/recording/1/content")

    assert call["recordingId"] in records[0]["recording"]["contentUri"]
    assert recording.content_type == "audio/mpeg"
    assert audio.content.startswith(b"ID3")
    assert {e.operation for e in sim.exchanges()} >= {"readCallRecordingContent", "readMessageContent"}
