"""The worked example "every missed call → a row in a Google Sheet, a call logged in HubSpot, a card in Teams" of
docs/connectors.md, run as the docs show it: the Python module (docs/examples/missed_call.py) and the three
automations-file rules (docs/examples/missed_call.toml), each against the RingCentral simulator and the fake
Google, HubSpot and Teams. One missed call gives one row, one call on one contact and one card; a replay of the
runs adds nothing anywhere."""

import asyncio
import importlib.util
from pathlib import Path

import psycopg
import pytest
import redis.asyncio as redis
from psycopg.rows import dict_row
from ringcentral_service.rules import RulesError, parse_rules
from ringcentral_service.service import service
from ringcentral_service.settings import Settings
from ringcentral_service.simulator import SimulatorConfig
from ringcentral_service.store import namespace_for
from zaps.connectors.hubspot import HubSpot
from zaps.declarations import DeclarationError
from zaps.testing.apps import running
from zaps.testing.hubspot_fake import TOKEN, HubSpotFake
from zaps.testing.sheets_fake import FakeGoogle
from zaps.testing.teams_fake import TeamsWorkflowsFake
from zaps.testing.waiting import eventually

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
EXAMPLE_FILE = Path(__file__).resolve().parents[3] / "infra" / "ringcentral" / "automations.example.toml"
SHEET_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"  # the id both examples name
CALLER = "+14155550123"  # the simulator's default caller, "Pat Caller"
PREFIX = "/api/ringcentral"


@pytest.fixture
async def fakes(monkeypatch):
    """The three services the example writes to, with the owner's one-off set-up done (sheet shared, HubSpot's
    unique properties made), and their settings in the environment as the connectors read them."""
    with FakeGoogle() as google, HubSpotFake() as hubspot, TeamsWorkflowsFake() as teams:
        account = google.service_account()
        google.spreadsheet(
            SHEET_ID, {"Missed calls": [["Call id", "From", "Name", "When"]]}, shared_with=[account.client_email]
        )
        monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_JSON", account.key_json())
        monkeypatch.setenv("GOOGLE_SHEETS_API_URL", google.url)
        monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
        monkeypatch.setenv("HUBSPOT_API_URL", hubspot.url)
        client = HubSpot(token=TOKEN, api_url=hubspot.url)
        await client.ensure_properties(phone=True)
        await client.aclose()
        monkeypatch.setenv("TEAMS_WORKFLOW_URL", teams.url())
        yield google, hubspot, teams


@pytest.fixture
async def settings_for(make_settings, sim, sim_credentials, redis_url):
    def build(**overrides):
        return make_settings(Settings, **sim_credentials, **overrides)

    yield build
    if redis_url:  # the shared token and budgets of the simulator's credentials must not leak into other tests
        config = SimulatorConfig()
        client = redis.Redis.from_url(redis_url)
        pattern = namespace_for(sim.base_url, config.client_id, config.jwt) + ":*"
        keys = [key async for key in client.scan_iter(match=pattern)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def python_example():
    """docs/examples/missed_call.py, imported as the service would import it once listed: it declares its
    automation on ringcentral-service's `service`. Taken off again afterwards, so that no other test's service
    needs Sheets, HubSpot and Teams credentials."""
    spec = importlib.util.spec_from_file_location("missed_call_example", EXAMPLES / "missed_call.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    service.automations.pop("ringcentral.missed-call", None)


def query(database_url, sql, *params):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


async def finished(database_url, names):
    return await eventually(
        lambda: asyncio.to_thread(
            query, database_url, "SELECT * FROM zaps_run WHERE automation = ANY(%s) ORDER BY automation", names
        ),
        lambda runs: len(runs) == len(names) and all(r["status"] in ("succeeded", "dead", "filtered") for r in runs),
        timeout=30,
    )


async def replay_all(client, database_url, runs):
    """Replay the runs through the admin API, and wait until every step of each was reused from the ledger."""
    ids = [run["id"] for run in runs]
    answer = await client.post(
        f"{PREFIX}/admin/runs/replay", json={"run_ids": ids}, headers={"Authorization": "Bearer changeme"}
    )
    assert sorted(answer.json()["queued"]) == sorted(ids), answer.text

    def replayed():
        steps = query(database_url, "SELECT run_id, status FROM zaps_step WHERE run_id = ANY(%s)", ids)
        runs = query(database_url, "SELECT status FROM zaps_run WHERE id = ANY(%s)", ids)
        return steps, runs

    steps, _runs = await eventually(
        lambda: asyncio.to_thread(replayed),
        lambda got: (
            all(r["status"] == "succeeded" for r in got[1])
            and {s["run_id"] for s in got[0] if s["status"] == "reused"} == set(ids)
        ),
        timeout=30,
    )
    return steps


def what_was_written(google, hubspot, teams):
    return {
        "rows": google.rows(SHEET_ID, "Missed calls")[1:],
        "contacts": [c["id"] for c in hubspot.records("contacts")],
        "calls": [c["id"] for c in hubspot.records("calls")],
        "cards": len(teams.posts),
        "sheet writes": len(google.writes()),
        "teams requests": len(teams.requests),
    }


async def test_the_python_example_writes_one_row_one_call_and_one_card(
    python_example, fakes, settings_for, sim, database_url, capsys
):
    google, hubspot, teams = fakes
    call = await sim.add_call(direction="Inbound", result="Missed")

    async with running(service.create_app(settings_for(log_level="DEBUG"))) as client:
        (run,) = await finished(database_url, ["ringcentral.missed-call"])
        assert run["status"] == "succeeded", run["error"]

        header, *rows = google.rows(SHEET_ID, "Missed calls")
        assert len(rows) == 1
        row = dict(zip(header, rows[0], strict=True))
        assert (row["Call id"], row["From"], row["Name"]) == (str(call["id"]), CALLER, "Pat Caller")
        (contact,) = hubspot.records("contacts")
        assert contact["properties"]["zaps_phone"] == CALLER
        (logged,) = hubspot.records("calls")
        assert hubspot.associated("contacts", contact["id"], "calls") == [logged["id"]]
        assert logged["properties"]["hs_call_status"] == "NO_ANSWER"
        assert logged["properties"]["hs_call_body"] == f"Missed call from {CALLER} Pat Caller"
        (card,) = teams.posts
        title, text, facts = card.card["body"]
        assert (title["text"], text["text"]) == ("Missed call", "**Pat Caller** called and nobody answered. Call back!")
        assert {"title": "HubSpot call", "value": logged["id"]} in facts["facts"]

        before = what_was_written(google, hubspot, teams)
        steps = await replay_all(client, database_url, [run])

    assert sorted(s["status"] for s in steps) == ["reused"] * 3 + ["succeeded"] * 3
    assert what_was_written(google, hubspot, teams) == before
    logged = capsys.readouterr().out
    assert "ringcentral.missed-call" in logged
    secrets = [TOKEN, teams.signature, "PRIVATE KEY", SimulatorConfig().client_secret, SimulatorConfig().jwt]
    assert [secret for secret in secrets if secret in logged] == []


async def test_the_automations_file_rules_write_one_row_one_call_and_one_card(fakes, settings_for, sim, database_url):
    google, hubspot, teams = fakes
    call = await sim.add_call(direction="Inbound", result="Missed")
    names = ["ringcentral.missed-call-hubspot", "ringcentral.missed-call-sheet", "ringcentral.missed-call-teams"]

    settings = settings_for(ringcentral_automations_file=EXAMPLES / "missed_call.toml")
    async with running(service.create_app(settings)) as client:
        runs = await finished(database_url, names)
        assert [r["status"] for r in runs] == ["succeeded"] * 3, [r["error"] for r in runs]

        header, *rows = google.rows(SHEET_ID, "Missed calls")
        assert len(rows) == 1
        row = dict(zip(header, rows[0], strict=False))
        assert (row["Call id"], row["From"]) == (str(call["id"]), f"{CALLER} Pat Caller")
        (contact,) = hubspot.records("contacts")
        (logged,) = hubspot.records("calls")
        assert hubspot.associated("contacts", contact["id"], "calls") == [logged["id"]]
        assert logged["properties"]["hs_call_status"] == "NO_ANSWER"
        (card,) = teams.posts
        title, text, facts = card.card["body"]
        assert (title["text"], text["text"]) == ("Missed call", "**Pat Caller** called and nobody answered. Call back!")
        assert facts["facts"][0] == {"title": "From", "value": CALLER}

        before = what_was_written(google, hubspot, teams)
        await replay_all(client, database_url, runs)

    assert what_was_written(google, hubspot, teams) == before


def test_a_teams_rule_is_checked_at_start(settings_for, monkeypatch, tmp_path):
    """The `teams` action uses the Teams connector: no TEAMS_WORKFLOW_URL stops the start, naming it; a placeholder
    that does not exist in a fact is refused like any other template's."""
    monkeypatch.delenv("TEAMS_WORKFLOW_URL", raising=False)
    settings = settings_for(ringcentral_automations_file=EXAMPLES / "missed_call.toml")
    with pytest.raises(DeclarationError, match="missed-call-teams uses Microsoft Teams: TEAMS_WORKFLOW_URL is not set"):
        service.create_app(settings)

    with pytest.raises(RulesError, match=r"teams.facts.Who names unknown placeholders \['who'\]"):
        parse_rules('[[automation]]\nname = "t"\non = "call.missed"\n[automation.teams]\nfacts = { Who = "{who}" }\n')


async def test_in_shadow_mode_a_teams_rule_records_the_card_and_posts_nothing(fakes, settings_for, sim, database_url):
    _, _, teams = fakes
    await sim.add_call(direction="Inbound", result="Missed")
    settings = settings_for(ringcentral_automations_file=EXAMPLES / "missed_call.toml", ringcentral_shadow_mode=True)
    async with running(service.create_app(settings)):
        await finished(database_url, ["ringcentral.missed-call-teams"])
    (step,) = query(
        database_url,
        "SELECT s.name, s.output FROM zaps_step s JOIN zaps_run r ON r.id = s.run_id WHERE r.automation = %s",
        "ringcentral.missed-call-teams",
    )
    assert step["name"] == "shadow-teams"
    would = step["output"]["would"]["teams"]
    assert (would["title"], would["facts"]["From"]) == ("Missed call", CALLER)
    assert teams.requests == []


def test_the_example_files_commented_teams_rule_is_valid_once_uncommented():
    text = EXAMPLE_FILE.read_text()
    block = text[text.index('# [[automation]]\n# name = "missed-call-teams"') : text.index("# Every call as one row")]
    (rule,) = parse_rules("\n".join(line.removeprefix("# ") for line in block.splitlines())).automation
    assert (rule.action, rule.on) == ("teams", "call.missed")
    assert rule.teams is not None and list(rule.teams.facts) == ["From", "Extension"]
