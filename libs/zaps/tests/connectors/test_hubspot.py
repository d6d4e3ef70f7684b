"""The HubSpot connector through a real service and worker, against the fake HubSpot (zaps.testing.hubspot_fake):
a contact, a call and a note, associated; 503 and 429 retried; a replay or a resend after a timeout never makes a
second object; a bad token, a missing scope and HubSpot's validation errors end the run with a clear error; the
token never shows in logs or run records."""

import asyncio
import importlib
import json
import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import SecretStr
from zaps import Retry, Run, Service, ZapsSettings, signing, webhook
from zaps.connectors import hubspot
from zaps.connectors.hubspot import IDEMPOTENCY_PROPERTY, HubSpot
from zaps.declarations import DeclarationError
from zaps.engine import repository
from zaps.retry import PermanentError, RetryableError
from zaps.testing.apps import running, server_process
from zaps.testing.hubspot_fake import READ_SCOPE, SCHEMA_READ, SCHEMA_WRITE, TOKEN, HubSpotFake
from zaps.testing.waiting import eventually

SECRET = "hook-secret-0123456789"
PREFIX = "/api/hubtest"
FAST = Retry.exponential(attempts=4, first=timedelta(seconds=0.05), cap=timedelta(seconds=0.3))


class HubTestSettings(ZapsSettings):
    service_name: str = "hubtest"
    path_prefix: str = PREFIX
    hook_secret: SecretStr = SecretStr(SECRET)


service = Service(HubTestSettings)


@service.automation(webhook(secret_setting="hook_secret"), retry=FAST, uses=[HubSpot])
async def missed_call(run: Run[HubTestSettings]) -> None:
    """The issue's example: a missed call becomes a contact with the call logged and a note to call back."""
    caller = run.event.payload
    contact = await hubspot.upsert_contact(
        run, "contact", email=caller["email"], properties={"firstname": caller["name"]}
    )
    await hubspot.log_call(
        run,
        "call",
        contact_id=contact["contact_id"],
        direction="INBOUND",
        status="NO_ANSWER",
        duration_ms=caller.get("duration_ms", 0),
        recording_url=caller.get("recording_url"),
        body=f"Missed call from {caller['name']}",
    )
    await hubspot.create_note(run, "note", contact_email=caller["email"], body=f"Call {caller['name']} back")


class DocsSettings(ZapsSettings):
    service_name: str = "hubdocs"
    path_prefix: str = "/api/hubdocs"
    hook_secret: SecretStr = SecretStr(SECRET)


def docs_example() -> str:
    """The Python example of docs/connectors.md's HubSpot section, as the reader copies it."""
    text = (Path(__file__).resolve().parents[4] / "docs" / "connectors.md").read_text()
    section = text[text.index("\n## HubSpot\n") :]
    section = section[: section.index("\n## ", 1)]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


# The docs' example, declared on a service of its own exactly as written there.
docs_service = Service(DocsSettings)
exec(docs_example(), {"service": docs_service, "Settings": DocsSettings})

CALLER = {
    "email": "ann@example.com",
    "name": "Ann",
    "duration_ms": 12_000,
    "recording_url": "https://rec.example/1.mp3",
}


@pytest.fixture
def fake():
    with HubSpotFake() as server:
        yield server


@pytest.fixture
def settings(make_settings, fake, monkeypatch):
    def build(token: str = TOKEN, timeout_s: float = 5.0):
        monkeypatch.setenv("HUBSPOT_TOKEN", token)
        monkeypatch.setenv("HUBSPOT_API_URL", fake.url)
        monkeypatch.setenv("HUBSPOT_TIMEOUT_S", str(timeout_s))
        return make_settings(HubTestSettings, log_level="INFO")

    return build


async def post(client: httpx.AsyncClient, payload: Any, prefix: str = PREFIX) -> None:
    body = json.dumps(payload).encode()
    answer = await client.post(
        f"{prefix}/hooks/missed-call",
        content=body,
        headers={"content-type": "application/json", **signing.sign(SECRET, body)},
    )
    assert answer.status_code == 202, answer.text


def query(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


async def settled(
    database_url: str, statuses: tuple[str, ...] = ("succeeded", "dead"), automation: str = "hubtest.missed-call"
) -> dict[str, Any]:
    runs = await eventually(
        lambda: asyncio.to_thread(query, database_url, "SELECT * FROM zaps_run WHERE automation = %s", automation),
        lambda runs: len(runs) == 1 and runs[0]["status"] in statuses,
        timeout=30,
    )
    return runs[0]


def steps(database_url: str, run_id: int) -> list[tuple[str, str]]:
    rows = query(database_url, "SELECT name, status FROM zaps_step WHERE run_id = %s ORDER BY id", run_id)
    return [(row["name"], row["status"]) for row in rows]


def writes(fake: HubSpotFake, object_type: str) -> list[dict[str, Any]]:
    return [r.json for r in fake.requests if r.path == f"/crm/v3/objects/{object_type}/batch/upsert"]


async def test_a_contact_a_call_and_a_note_are_made_and_associated(settings, fake, database_url, capsys):
    app = service.create_app(settings())
    async with running(app) as client:
        await post(client, CALLER)
        run = await settled(database_url)
    assert run["status"] == "succeeded", run["error"]
    (contact,) = fake.records("contacts")
    assert contact["properties"]["email"] == "ann@example.com" and contact["properties"]["firstname"] == "Ann"
    (call,) = fake.records("calls")
    assert {k: call["properties"][k] for k in ("hs_call_direction", "hs_call_status", "hs_call_duration")} == {
        "hs_call_direction": "INBOUND",
        "hs_call_status": "NO_ANSWER",
        "hs_call_duration": "12000",
    }
    assert call["properties"]["hs_call_recording_url"] == CALLER["recording_url"]
    assert call["properties"][IDEMPOTENCY_PROPERTY].endswith("/call")  # the step's ledger key
    (note,) = fake.records("notes")
    assert note["properties"]["hs_note_body"] == "Call Ann back"
    assert fake.associated("contacts", contact["id"], "calls") == [call["id"]]
    assert fake.associated("contacts", contact["id"], "notes") == [note["id"]]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    # The token went to HubSpot and nowhere else: not in a log line, not in the run's records.
    assert TOKEN not in capsys.readouterr().out
    recorded = query(database_url, "SELECT * FROM zaps_step") + query(database_url, "SELECT * FROM zaps_run")
    assert TOKEN not in json.dumps(recorded, default=str)


async def test_503_then_429_are_retried_and_the_call_is_logged_once(settings, fake, database_url):
    fake.fail(503, 429, path="/calls/", interval_ms=100)
    app = service.create_app(settings())
    async with running(app) as client:
        await post(client, CALLER)
        run = await settled(database_url)
    assert run["status"] == "succeeded", run["error"]
    assert [s for s in steps(database_url, run["id"]) if s[0] == "call"] == [
        ("call", "failed"),
        ("call", "failed"),
        ("call", "succeeded"),
    ]
    errors = query(database_url, "SELECT error FROM zaps_step WHERE name = 'call' AND status = 'failed' ORDER BY id")
    assert "HubSpot answered 503" in errors[0]["error"]
    assert "rate limit (TEN_SECONDLY_ROLLING)" in errors[1]["error"]
    assert len(fake.records("contacts")) == 1 and len(fake.records("calls")) == 1


async def test_the_rate_limit_answer_sets_the_wait_from_hubspots_headers(fake):
    client = HubSpot(token=TOKEN, api_url=fake.url)
    fake.fail(429, interval_ms=10_000)
    fake.fail(429, policy="DAILY")
    try:
        with pytest.raises(RetryableError) as rolling:
            await client.upsert("contacts", "email", "a@example.com", {})
        with pytest.raises(RetryableError) as daily:
            await client.upsert("contacts", "email", "a@example.com", {})
    finally:
        await client.aclose()
    assert rolling.value.retry_after == 10.0  # X-HubSpot-RateLimit-Interval-Milliseconds
    assert daily.value.retry_after == hubspot.DAILY_LIMIT_WAIT_S
    assert "You have reached your daily limit" in str(daily.value)


async def test_a_replayed_run_sends_nothing_again(settings, fake, database_url):
    app = service.create_app(settings())
    async with running(app) as client:
        await post(client, CALLER)
        run = await settled(database_url)
        sent = len(fake.requests)
        async with app.state.runtime.database.connection() as conn:
            await repository.replay(conn, [run["id"]])
        await eventually(
            lambda: asyncio.to_thread(steps, database_url, run["id"]),
            lambda done: len(done) == 6,
        )
    assert [status for _, status in steps(database_url, run["id"])][3:] == ["reused", "reused", "reused"]
    assert len(fake.requests) == sent
    assert (len(fake.records("contacts")), len(fake.records("calls")), len(fake.records("notes"))) == (1, 1, 1)


async def test_a_write_applied_but_answered_by_a_timeout_is_resent_and_still_one_call(settings, fake, database_url):
    # HubSpot takes the call; the answer comes after our timeout (2 s: a loaded machine's ordinary answer is in time)
    fake.stall_after_write(4.0, path="/calls/")
    app = service.create_app(settings(timeout_s=2.0))
    async with running(app) as client:
        await post(client, CALLER)
        run = await settled(database_url)
    assert run["status"] == "succeeded", run["error"]
    sent = writes(fake, "calls")
    assert len(sent) == 2  # the resend ...
    keys = {w["inputs"][0]["id"] for w in sent}
    assert len(keys) == 1  # ... carries the same idempotency key, so HubSpot updates the call it has
    assert len(fake.records("calls")) == 1
    assert [s for s in steps(database_url, run["id"]) if s[0] == "call"] == [
        ("call", "unsure"),
        ("call", "unsure"),
        ("call", "succeeded"),
    ]


async def test_a_run_dead_after_timeouts_then_replayed_still_makes_one_call(settings, fake, database_url):
    fake.stall_after_write(3.0, count=4, path="/calls/")  # every try applied, none answered in time
    app = service.create_app(settings(timeout_s=1.5))
    async with running(app) as client:
        await post(client, CALLER)
        run = await settled(database_url)
        assert run["status"] == "dead"
        assert len(writes(fake, "calls")) == 4 and len(fake.records("calls")) == 1
        async with app.state.runtime.database.connection() as conn:
            await repository.replay(conn, [run["id"]])
        run = await settled(database_url, ("succeeded",))
    assert len(writes(fake, "calls")) == 5
    assert len(fake.records("calls")) == 1 and len(fake.records("notes")) == 1


async def test_a_bad_token_goes_dead_at_once_with_a_clear_error(settings, fake, database_url, capsys):
    wrong = "pat-na1-00000000-dead-beef-0000-000000000000"
    app = service.create_app(settings(token=wrong))
    async with running(app) as client:
        await post(client, CALLER)
        run = await settled(database_url)
    assert (run["status"], run["attempts"]) == ("dead", 1)
    assert "refused the token" in run["error"] and "HUBSPOT_TOKEN" in run["error"] and "401" in run["error"]
    assert fake.records("contacts") == []
    recorded = json.dumps([*query(database_url, "SELECT * FROM zaps_step"), run], default=str)
    assert wrong not in recorded and wrong not in capsys.readouterr().out


async def test_a_missing_scope_is_named(make_settings, database_url, monkeypatch):
    with HubSpotFake(scopes=frozenset({READ_SCOPE, SCHEMA_READ, SCHEMA_WRITE})) as fake:
        monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
        monkeypatch.setenv("HUBSPOT_API_URL", fake.url)
        app = service.create_app(make_settings(HubTestSettings))
        async with running(app) as client:
            await post(client, CALLER)
            run = await settled(database_url)
    assert run["status"] == "dead"
    assert "lacks the scope(s) crm.objects.contacts.write" in run["error"]


async def test_hubspots_validation_message_ends_the_run(settings, fake, database_url):
    app = service.create_app(settings())
    async with running(app) as client:
        await post(client, {**CALLER, "email": "not-an-email"})
        run = await settled(database_url)
    assert (run["status"], run["attempts"]) == ("dead", 1)
    assert "400 VALIDATION_ERROR" in run["error"] and "Email address not-an-email is invalid" in run["error"]


def test_a_missing_token_stops_the_start_naming_it(make_settings, monkeypatch):
    monkeypatch.delenv("HUBSPOT_TOKEN", raising=False)
    with pytest.raises(DeclarationError) as stopped:
        service.create_app(make_settings(HubTestSettings))
    assert "automation hubtest.missed-call uses HubSpot: HUBSPOT_TOKEN is not set" in str(stopped.value)


async def test_the_unique_property_is_created_once_and_then_upserts_work():
    with HubSpotFake(idempotency_property=False) as fake:
        client = HubSpot(token=TOKEN, api_url=fake.url)
        try:
            with pytest.raises(PermanentError, match="ensure-properties"):
                await client.upsert("calls", IDEMPOTENCY_PROPERTY, "k1", {"hs_timestamp": "0"})
            assert await client.ensure_properties(phone=True) == {
                "calls.zaps_idempotency_key": "created",
                "notes.zaps_idempotency_key": "created",
                "contacts.zaps_phone": "created",
            }
            again = await client.ensure_properties()
            first = await client.upsert("calls", IDEMPOTENCY_PROPERTY, "k1", {"hs_timestamp": "0"})
            second = await client.upsert("calls", IDEMPOTENCY_PROPERTY, "k1", {"hs_timestamp": "1"})
        finally:
            await client.aclose()
    assert set(again.values()) == {"exists"}
    assert fake.has_property("calls", IDEMPOTENCY_PROPERTY) and fake.has_property("contacts", "zaps_phone")
    assert (first["new"], second["new"], first["id"]) == (True, False, second["id"])


async def test_an_id_property_without_unique_values_is_refused(fake):
    client = HubSpot(token=TOKEN, api_url=fake.url)
    try:
        with pytest.raises(PermanentError, match="phone is not a unique identifier property"):
            await client.upsert("contacts", "phone", "+14155550123", {})
    finally:
        await client.aclose()
    assert fake.records("contacts") == []


def test_the_one_off_command_creates_the_properties_and_names_a_missing_token(monkeypatch, capsys):
    with HubSpotFake(idempotency_property=False) as fake:
        monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
        monkeypatch.setenv("HUBSPOT_API_URL", fake.url)
        assert hubspot.main(["ensure-properties"]) == 0
        assert hubspot.main(["ensure-properties"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said == [
        "calls.zaps_idempotency_key: created",
        "notes.zaps_idempotency_key: created",
        "calls.zaps_idempotency_key: exists",
        "notes.zaps_idempotency_key: exists",
    ]
    monkeypatch.delenv("HUBSPOT_TOKEN")
    assert hubspot.main(["ensure-properties"]) == 2
    assert "HubSpot: HUBSPOT_TOKEN is not set" in capsys.readouterr().err


async def test_a_validation_error_on_a_call_names_hubspots_reason_only(fake):
    client = HubSpot(token=TOKEN, api_url=fake.url)
    try:
        with pytest.raises(PermanentError) as refused:
            await client.upsert("calls", IDEMPOTENCY_PROPERTY, "k", {"hs_call_status": "LOST"})
    finally:
        await client.aclose()
    assert "LOST was not one of the allowed options" in str(refused.value)
    assert "ensure-properties" not in str(refused.value)  # the property exists: no misleading hint


async def test_the_docs_example_runs_as_written(make_settings, fake, database_url, monkeypatch):
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setenv("HUBSPOT_API_URL", fake.url)
    async with running(docs_service.create_app(make_settings(DocsSettings))) as client:
        await post(client, CALLER, prefix="/api/hubdocs")
        run = await settled(database_url, automation="hubdocs.missed-call")
    assert run["status"] == "succeeded", run["error"]
    (contact,) = fake.records("contacts")
    assert fake.associated("contacts", contact["id"], "calls") and fake.associated("contacts", contact["id"], "notes")


async def test_the_harmless_read_tells_a_good_token_from_a_bad_one(fake):
    good, bad = HubSpot(token=TOKEN, api_url=fake.url), HubSpot(token="pat-na1-not-the-token", api_url=fake.url)
    try:
        assert await good.check() == "OK"
        with pytest.raises(PermanentError, match="refused the token"):
            await bad.check()
    finally:
        await good.aclose()
        await bad.aclose()
    assert [r.method for r in fake.requests] == ["GET", "GET"]  # reads only


KILLED_SERVICE = """
from pydantic import SecretStr
from zaps import Run, Service, ZapsSettings, webhook
from zaps.connectors import hubspot
from zaps.connectors.hubspot import HubSpot


class Settings(ZapsSettings):
    service_name: str = "hubkill"
    hook_secret: SecretStr = SecretStr("hook-secret-0123456789")


service = Service(Settings)


@service.automation(webhook(secret_setting="hook_secret"), uses=[HubSpot])
async def missed_call(run: Run[Settings]) -> None:
    await hubspot.log_call(run, "call", contact_email="ann@example.com", direction="INBOUND", status="NO_ANSWER")
"""


async def test_a_worker_killed_after_hubspot_took_the_call_leaves_one_call(
    fake, database_url, tmp_path, make_settings, monkeypatch
):
    """SIGKILL while HubSpot holds the answer: the call exists, the ledger says `started`. The next worker finds the
    step unsure, resends it with the same key, and HubSpot updates the call it has.

    The first worker is a real process (to be killed); the next one runs in this process, which starts in a second
    where a new process would take its imports' time again (half a minute on a loaded machine)."""
    (tmp_path / "hubkill_service.py").write_text(KILLED_SERVICE)
    env = {
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(tmp_path),
        "PATH_PREFIX": "/api/hubkill",
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "HUBSPOT_TOKEN": TOKEN,
        "HUBSPOT_API_URL": fake.url,
        "HUBSPOT_TIMEOUT_S": "60",
        # Its silence is soon noticed, and the housekeeping it schedules (a shared timer) comes round soon.
        "WORKER_HEARTBEAT_S": "0.5",
        "STALLED_AFTER_S": "2",
        "HOUSEKEEPING_INTERVAL_S": "0.5",
        "TICK_INTERVAL_S": "0.1",
    }
    fake.stall_after_write(30, path="/calls/")
    with server_process("hubkill_service:service", env, log_path=tmp_path / "first.log") as first:
        body = json.dumps({"call": 1}).encode()
        answer = httpx.post(
            f"{first['base_url']}/api/hubkill/hooks/missed-call",
            content=body,
            headers={"content-type": "application/json", **signing.sign(SECRET, body)},
        )
        assert answer.status_code == 202
        await eventually(lambda: asyncio.to_thread(fake.records, "calls"), lambda calls: len(calls) == 1)
        os.kill(first["process"].pid, signal.SIGKILL)
        first["process"].wait()

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setenv("HUBSPOT_API_URL", fake.url)
    killed = importlib.import_module("hubkill_service")
    settings = make_settings(
        killed.Settings,
        path_prefix="/api/hubkill",
        worker_heartbeat_s=0.5,
        stalled_after_s=2,
        housekeeping_interval_s=0.5,
    )
    async with running(killed.service.create_app(settings)):
        run = await settled(database_url, ("succeeded", "dead", "needs_review"), automation="hubkill.missed-call")
    assert run["status"] == "succeeded", run["error"]
    sent = writes(fake, "calls")
    assert len(sent) == 2 and len({w["inputs"][0]["id"] for w in sent}) == 1
    assert len(fake.records("calls")) == 1 and len(fake.records("contacts")) == 1
    assert [status for name, status in steps(database_url, run["id"]) if name == "call"][-2:] == ["unsure", "succeeded"]
