"""The simulator answers, and the client asks, as RingCentral's official OpenAPI spec says.

The spec lives outside the repository (`../shared/ringcentral/`); without it these tests skip. Every other test
that uses the simulator is checked the same way when it ends (conftest `sim`); this file drives every operation
and status the client handles in one place, and shows that the check does catch what it should.
"""

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from ringcentral_service.client import OPERATION_GROUPS
from ringcentral_service.errors import RateLimited, ServerError, SyncTokenInvalid

OPERATIONS = {
    "getToken",
    "syncUserCallLog",
    "syncAccountCallLog",
    "readUserCallLog",
    "readCompanyCallLog",
    "syncMessages",
    "createSMSMessage",
    "readMessageContent",
    "readCallRecordingContent",
}


async def test_every_operation_and_status_the_client_meets_is_within_the_spec(contract, sim, make_client):
    client = make_client(max_rate_limit_retries=0)
    since = datetime.now(UTC) - timedelta(days=2)
    await sim.add_call(voicemail=True, recording=True)
    await sim.add_call(direction="Outbound", result="Call connected", duration=95)
    await sim.add_message(type="SMS", text="Are you open today?")
    await sim.add_message(type="Fax")

    calls = await client.call_log_sync("FSync", date_from=since, status_group="All")
    await client.call_log_sync("FSync", level="account", record_count=10)
    await client.call_log_list(date_from=since, per_page=1)
    await client.call_log_list(date_from=since, level="account", date_to=datetime.now(UTC))
    messages = await client.message_sync("FSync", date_from=since, message_types=["SMS", "VoiceMail", "Fax"])
    await client.send_sms(from_number="+16505550100", to_number="+14155550123", text="Yes, 9 to 5", idempotency_key="c")
    await client.get_media(calls.records[0]["recording"]["contentUri"])
    for record in messages.records:
        await client.get_media(record["attachments"][0]["uri"])
    await sim.add_calls(251)
    with pytest.raises(SyncTokenInvalid):
        await client.call_log_sync("ISync", sync_token=calls.sync_token)
    await sim.reset_sync("CLG-104")
    with pytest.raises(SyncTokenInvalid):
        await client.message_sync("ISync", sync_token=messages.sync_token)
    await sim.advance(3601)  # 401, then a refresh grant
    await client.message_sync("FSync", date_from=since + timedelta(hours=1))
    await sim.fault(operation="syncMessages", status=429, retry_after=0.01)
    with pytest.raises(RateLimited):
        await client.message_sync("FSync")
    await sim.fault(operation="syncUserCallLog", status=500)
    with pytest.raises(ServerError):
        await client.call_log_sync("FSync")

    exchanges = sim.exchanges()
    problems = [problem for exchange in exchanges for problem in contract.check(exchange)]
    assert problems == []
    assert {e.operation for e in exchanges} == OPERATIONS
    assert {e.status for e in exchanges} >= {200, 400, 401, 429, 500}
    grants = {
        dict(pair.split("=", 1) for pair in e.body.decode().split("&"))["grant_type"] for e in sim.exchanges("getToken")
    }
    assert grants == {"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", "refresh_token"}


def _with_body(exchange, change):
    body = json.loads(exchange.response_body)
    change(body)
    return dataclasses.replace(exchange, response_body=json.dumps(body).encode())


async def test_the_check_catches_answers_and_requests_that_break_the_spec(contract, sim, make_client):
    client = make_client()
    await sim.add_call()
    await client.call_log_sync("FSync")
    await client.send_sms(from_number="+16505550100", to_number="+14155550123", text="hi", idempotency_key="k")
    login = sim.exchanges("getToken")[0]
    sync = sim.exchanges("syncUserCallLog")[0]
    sms = sim.exchanges("createSMSMessage")[0]
    assert contract.check(login) == contract.check(sync) == contract.check(sms) == []

    def unknown_result(body):
        body["records"][0]["result"] = "Nope"

    def no_sync_info(body):
        del body["syncInfo"]

    broken = {
        "an enum value the spec does not have": _with_body(sync, unknown_result),
        "a missing required field": _with_body(sync, no_sync_info),
        "a lower-case bearer scheme": dataclasses.replace(sync, headers={**sync.headers, "authorization": "bearer x"}),
        "an unknown enum in the query": dataclasses.replace(sync, query=[("syncType", "Bogus")]),
        "a query parameter the operation does not have": dataclasses.replace(sync, query=[*sync.query, ("foo", "1")]),
        "a password grant": dataclasses.replace(login, body=b"grant_type=password&username=u"),
        "an SMS without recipients": dataclasses.replace(sms, body=b'{"from": {"phoneNumber": "+1"}, "text": "x"}'),
    }
    for what, exchange in broken.items():
        assert contract.check(exchange), f"the contract check let {what} through"


def test_the_client_counts_each_operation_against_the_rate_limit_group_the_spec_names(contract):
    assert set(OPERATION_GROUPS) == OPERATIONS
    for operation, group in OPERATION_GROUPS.items():
        _, _, spec = contract.operations[operation]
        assert spec["x-throttling-group"] == group, operation
