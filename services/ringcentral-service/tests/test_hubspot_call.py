"""The automations file's `hubspot_call` action: a call from the simulator's log becomes a HubSpot call (the fake
HubSpot) on the caller's contact, upserted by their number."""

import asyncio
from pathlib import Path

import psycopg
import pytest
import redis.asyncio as redis
from psycopg.rows import dict_row
from ringcentral_service.rules import parse_rules
from ringcentral_service.service import service
from ringcentral_service.settings import Settings
from ringcentral_service.simulator import SimulatorConfig
from ringcentral_service.store import namespace_for
from zaps.actions.fakes import fake_actions
from zaps.connectors.hubspot import HubSpot
from zaps.testing.apps import running
from zaps.testing.hubspot_fake import TOKEN, HubSpotFake
from zaps.testing.waiting import eventually

CONFIG = SimulatorConfig()
CALLER = "+14155550123"  # the simulator's default caller
EXAMPLE = Path(__file__).resolve().parents[3] / "infra" / "ringcentral" / "automations.example.toml"

RULES = """
[[automation]]
name = "missed-call-hubspot"
on = "call.missed"
[automation.hubspot_call]
body = "Missed call from {caller} {caller_name}"
"""


@pytest.fixture
async def fake_hubspot(monkeypatch):
    with HubSpotFake() as fake:
        monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
        monkeypatch.setenv("HUBSPOT_API_URL", fake.url)
        client = HubSpot(token=TOKEN, api_url=fake.url)
        await client.ensure_properties(phone=True)  # the owner's one-off set-up: zaps_phone on contacts
        await client.aclose()
        yield fake


@pytest.fixture
async def rules_settings(make_settings, sim, sim_credentials, tmp_path, redis_url):
    path = tmp_path / "automations.toml"
    path.write_text(RULES)
    yield make_settings(
        Settings, **sim_credentials, ringcentral_automations_file=path, ringcentral_poll_interval_seconds=7
    )
    if redis_url:  # the shared token and budgets of these credentials must not leak into other tests
        client = redis.Redis.from_url(redis_url)
        prefix = namespace_for(sim.base_url, CONFIG.client_id, CONFIG.jwt)
        keys = [key async for key in client.scan_iter(match=prefix + ":*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def runs(database_url):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM zaps_run WHERE automation = 'ringcentral.missed-call-hubspot'").fetchall()


async def test_a_missed_call_is_logged_on_the_callers_contact_upserted_by_number(
    fake_hubspot, rules_settings, sim, database_url
):
    await sim.add_call(direction="Inbound", result="Missed", duration=7)
    await sim.add_call(direction="Inbound", result="Missed")  # the same caller again: the same contact

    async with running(service.create_app(rules_settings, actions=fake_actions())):
        done = await eventually(
            lambda: asyncio.to_thread(runs, database_url),
            lambda found: len(found) == 2 and all(r["status"] in ("succeeded", "dead") for r in found),
            timeout=30,
        )

    assert [r["status"] for r in done] == ["succeeded", "succeeded"], [r["error"] for r in done]
    (contact,) = fake_hubspot.records("contacts")
    assert contact["properties"]["zaps_phone"] == CALLER and contact["properties"]["phone"] == CALLER
    calls = fake_hubspot.records("calls")
    assert len(calls) == 2
    assert {c["properties"]["hs_call_status"] for c in calls} == {"NO_ANSWER"}
    assert {c["properties"]["hs_call_direction"] for c in calls} == {"INBOUND"}
    assert {c["properties"]["hs_call_body"] for c in calls} == {f"Missed call from {CALLER} Pat Caller"}
    assert "7000" in {c["properties"]["hs_call_duration"] for c in calls}
    assert fake_hubspot.associated("contacts", contact["id"], "calls") == sorted(c["id"] for c in calls)


def test_the_commented_example_is_valid_once_uncommented():
    text = EXAMPLE.read_text()
    block = text[text.index('# [[automation]]\n# name = "missed-call-hubspot"') : text.index("# Inbound texts")]
    (rule,) = parse_rules("\n".join(line.removeprefix("# ") for line in block.splitlines())).automation
    assert (rule.action, rule.on, rule.hubspot_call and rule.hubspot_call.contact_property) == (
        "hubspot_call",
        "call.missed",
        "zaps_phone",
    )


async def test_shadow_mode_records_the_call_it_would_log_and_sends_nothing(
    fake_hubspot, rules_settings, sim, database_url
):
    await sim.add_call(direction="Inbound", result="Missed")
    shadow = rules_settings.model_copy(update={"ringcentral_shadow_mode": True})
    async with running(service.create_app(shadow, actions=fake_actions())):
        (run,) = await eventually(
            lambda: asyncio.to_thread(runs, database_url),
            lambda found: len(found) == 1 and found[0]["status"] in ("succeeded", "dead"),
            timeout=30,
        )
    assert run["status"] == "succeeded", run["error"]
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        (step,) = conn.execute("SELECT name, output FROM zaps_step WHERE run_id = %s", (run["id"],)).fetchall()
    assert step["name"] == "shadow-hubspot-call"
    assert step["output"]["would"]["hubspot_call"]["status"] == "NO_ANSWER"
    assert fake_hubspot.records("calls") == [] and fake_hubspot.records("contacts") == []
