"""The automations file's `sheets_row` action: each call becomes one row of a Google Sheet (the fake Google of
zaps.testing.sheets_fake), found by the call's id and updated by every rule that writes it, never doubled."""

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
from zaps.testing.apps import running
from zaps.testing.sheets_fake import FakeGoogle
from zaps.testing.waiting import eventually

EXAMPLE = Path(__file__).resolve().parents[3] / "infra" / "ringcentral" / "automations.example.toml"
SHEET_ID = "1CallsSheet0123456789abcdefghij"
RULES = f"""
timezone = "America/New_York"

[[automation]]
name = "missed-call-sheet"
on = "call.missed"
[automation.sheets_row]
spreadsheet_id = "{SHEET_ID}"
sheet = "Calls"
key_column = "Call id"
columns = {{ "From" = "{{caller}} {{caller_name}}", "Missed" = "yes" }}

[[automation]]
name = "call-sheet"
on = "call.completed"
[automation.sheets_row]
spreadsheet_id = "{SHEET_ID}"
sheet = "Calls"
key_column = "Call id"
columns = {{ "From" = "{{caller}} {{caller_name}}", "Result" = "{{result}}", "Length" = "{{duration}}" }}
"""


@pytest.fixture
async def settings(make_settings, sim, sim_credentials, tmp_path, redis_url, monkeypatch):
    google = FakeGoogle().__enter__()
    account = google.service_account()
    google.spreadsheet(
        SHEET_ID, {"Calls": [["Call id", "From", "Result", "Length", "Missed"]]}, shared_with=[account.client_email]
    )
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_JSON", account.key_json())
    monkeypatch.setenv("GOOGLE_SHEETS_API_URL", google.url)
    path = tmp_path / "automations.toml"
    path.write_text(RULES)
    built = make_settings(Settings, **sim_credentials, ringcentral_automations_file=path)
    yield built, google
    google.__exit__(None, None, None)
    if redis_url:  # the shared token of the simulator's credentials must not leak into other tests
        client = redis.Redis.from_url(redis_url)
        config = SimulatorConfig()
        pattern = namespace_for(sim.base_url, config.client_id, config.jwt) + ":*"
        keys = [key async for key in client.scan_iter(match=pattern)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def runs(database_url):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT automation, status FROM zaps_run ORDER BY id").fetchall()


async def test_a_missed_call_is_one_row_written_by_both_rules(settings, sim, database_url):
    built, google = settings
    call = await sim.add_call(direction="Inbound", result="Missed")

    async with running(service.create_app(built, actions=fake_actions())):
        done = await eventually(
            lambda: asyncio.to_thread(runs, database_url),
            lambda found: len(found) == 2 and all(r["status"] in ("succeeded", "dead") for r in found),
            timeout=30,
        )

    assert sorted((r["automation"], r["status"]) for r in done) == [
        ("ringcentral.call-sheet", "succeeded"),
        ("ringcentral.missed-call-sheet", "succeeded"),
    ]
    header, *rows = google.rows(SHEET_ID, "Calls")
    assert len(rows) == 1  # one row per call, whichever rule wrote first
    row = dict(zip(header, rows[0], strict=False))
    assert row["Call id"] == str(call["id"])
    assert row["From"] == "+14155550123 Pat Caller" and row["Missed"] == "yes" and row["Result"] == "Missed"


def test_the_example_files_commented_sheets_rule_is_valid_once_uncommented():
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index('# name = "calls-to-sheet"') - 1
    block = [line.removeprefix("# ") for line in lines[start:] if line.startswith("# ")]
    (rule,) = parse_rules("\n".join(block)).automation
    assert rule.sheets_row is not None and rule.sheets_row.key_column == "Call id"
