"""The service end to end: the simulator's calls and messages polled by the engine's worker, the automations file
turned into runs, each action sent once (Slack, email and webhooks recorded by fakes; SMS through the simulator)."""

import asyncio
from pathlib import Path

import psycopg
import pytest
import redis.asyncio as redis
from psycopg.rows import dict_row
from ringcentral_service.rules import RulesError, load_rules, parse_rules
from ringcentral_service.service import check_settings, service
from ringcentral_service.settings import Settings
from ringcentral_service.simulator import SimulatorConfig
from ringcentral_service.store import namespace_for
from zaps.actions.fakes import fake_actions
from zaps.settings import SettingsError
from zaps.testing.apps import running
from zaps.testing.waiting import eventually

CONFIG = SimulatorConfig()
EXAMPLE = Path(__file__).resolve().parents[3] / "infra" / "ringcentral" / "automations.example.toml"
CALLER = "+14155550123"  # the simulator's default caller

MISSED_RULES = """
timezone = "America/New_York"

[[automation]]
name = "missed-call-slack"
on = "call.missed"
[automation.slack]
text = "Missed call from {caller} {caller_name} at {time}"

[[automation]]
name = "missed-call-sms"
on = "call.missed"
[automation.sms_reply]
text = "Sorry we missed you"
once_per_number_hours = 24
"""

VOICEMAIL_RULES = """
[[automation]]
name = "voicemail-email"
on = "voicemail.received"
[automation.email]
to = ["office@example.com"]
subject = "Voicemail from {caller}"
body = "{caller} left {duration}: {transcription}"
"""


@pytest.fixture
async def rc_settings(make_settings, sim, sim_credentials, tmp_path, redis_url):
    def build(rules: str, **overrides):
        path = tmp_path / "automations.toml"
        path.write_text(rules)
        values = {
            **sim_credentials,
            "ringcentral_automations_file": path,
            "ringcentral_sms_from": "+16505550100",
            "ringcentral_poll_interval_seconds": 7,
            "slack_webhook_url": "http://127.0.0.1:9/unused-the-fakes-record",
            "smtp_host": "127.0.0.1",
            "smtp_from": "zaps@example.com",
        }
        values.update(overrides)
        return make_settings(Settings, **values)

    yield build
    if redis_url:  # the shared token and budgets of these credentials must not leak into other tests
        client = redis.Redis.from_url(redis_url)
        keys = [
            key
            async for key in client.scan_iter(match=namespace_for(sim.base_url, CONFIG.client_id, CONFIG.jwt) + ":*")
        ]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def runs(database_url, automation):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT r.*, (SELECT json_agg(s.* ORDER BY s.id) FROM zaps_step s WHERE s.run_id = r.id) AS steps "
            "FROM zaps_run r WHERE automation = %s ORDER BY id",
            (automation,),
        ).fetchall()


def finished(expected):
    return lambda found: len(found) == expected and all(r["status"] in ("succeeded", "filtered", "dead") for r in found)


async def wait_runs(database_url, automation, expected, timeout=25):
    return await eventually(
        lambda: asyncio.to_thread(runs, database_url, automation), finished(expected), timeout=timeout
    )


async def test_a_missed_call_goes_to_slack_and_texts_the_caller_once_per_number(rc_settings, sim, database_url):
    await sim.add_call(direction="Inbound", result="Missed")
    await sim.add_call(direction="Inbound", result="Missed")  # the same caller again
    await sim.add_call(direction="Inbound", result="Accepted")  # answered: not missed
    actions = fake_actions()

    async with running(service.create_app(rc_settings(MISSED_RULES), actions=actions)):
        slack_runs = await wait_runs(database_url, "ringcentral.missed-call-slack", 2)
        sms_runs = await wait_runs(database_url, "ringcentral.missed-call-sms", 2)

    assert [r["status"] for r in slack_runs] == ["succeeded", "succeeded"]
    assert all(CALLER in call["text"] and "Pat Caller" in call["text"] for call in actions.slack.calls)
    assert len(actions.slack.calls) == 2
    assert sorted(r["status"] for r in sms_runs) == ["filtered", "succeeded"]
    (refused,) = [r for r in sms_runs if r["status"] == "filtered"]
    assert f"{CALLER} was already texted" in refused["filter_reason"]
    sent = await sim.sent_sms()
    assert len(sent) == 1
    assert sent[0]["to"] == [CALLER] and sent[0]["text"] == "Sorry we missed you"


async def test_an_sms_reply_answered_503_is_retried_and_sent_once(rc_settings, sim, database_url):
    await sim.fault(operation="createSMSMessage", status=503, times=1)
    await sim.add_call(direction="Inbound", result="Missed")

    async with running(service.create_app(rc_settings(MISSED_RULES), actions=fake_actions())):
        (run,) = await wait_runs(database_url, "ringcentral.missed-call-sms", 1)

    assert run["status"] == "succeeded" and run["attempts"] == 2
    assert len(await sim.sent_sms()) == 1
    assert [s["status"] for s in run["steps"]] == ["failed", "succeeded"]


async def test_a_voicemail_is_emailed_with_its_transcription(rc_settings, sim, database_url):
    await sim.add_message(
        type="VoiceMail", direction="Inbound", vmTranscriptionStatus="Completed", transcription="Please call me back"
    )
    actions = fake_actions()

    async with running(service.create_app(rc_settings(VOICEMAIL_RULES), actions=actions)):
        (run,) = await wait_runs(database_url, "ringcentral.voicemail-email", 1)

    assert run["status"] == "succeeded", run
    (email,) = actions.email.calls
    assert email["to"] == ["office@example.com"] and email["subject"] == f"Voicemail from {CALLER}"
    assert email["body"] == f"{CALLER} left 12s: Please call me back"
    assert [s["name"] for s in run["steps"]] == ["fetch-transcription", "email"]


async def test_shadow_mode_records_what_it_would_send_and_sends_nothing(rc_settings, sim, database_url):
    await sim.add_call(direction="Inbound", result="Missed")
    await sim.add_call(direction="Inbound", result="Missed")  # the same caller: in shadow mode too, one reply
    actions = fake_actions()
    settings = rc_settings(MISSED_RULES, ringcentral_shadow_mode=True)

    async with running(service.create_app(settings, actions=actions)):
        slack_run, _ = await wait_runs(database_url, "ringcentral.missed-call-slack", 2)
        sms_runs = await wait_runs(database_url, "ringcentral.missed-call-sms", 2)

    assert actions.slack.calls == [] and await sim.sent_sms() == []
    assert sorted(r["status"] for r in sms_runs) == ["filtered", "succeeded"]
    (sms_run,) = [r for r in sms_runs if r["status"] == "succeeded"]
    (slack_step,) = slack_run["steps"]
    assert slack_step["name"] == "shadow-slack" and slack_step["output"]["shadow"] is True
    assert CALLER in slack_step["output"]["would"]["slack"]["text"]
    (sms_step,) = sms_run["steps"]
    assert sms_step["name"] == "shadow-sms-reply"
    assert sms_step["output"]["would"]["sms_reply"] == {"to": CALLER, "text": "Sorry we missed you"}


async def test_a_crash_between_fetch_and_commit_loses_nothing_and_doubles_nothing(
    rc_settings, sim, database_url, monkeypatch
):
    from zaps.engine import ticker

    real_store = ticker.Ticker._store
    crashes = []

    async def store_or_crash(self, poller, version, cursor, events):
        if poller.name == "calls" and not crashes:
            crashes.append(len(events))
            raise ConnectionError("the process died before the commit")  # nothing of this poll is stored
        return await real_store(self, poller, version, cursor, events)

    monkeypatch.setattr(ticker.Ticker, "_store", store_or_crash)
    await sim.add_calls(3, direction="Inbound", result="Missed")

    async with running(service.create_app(rc_settings(MISSED_RULES), actions=fake_actions())):
        slack_runs = await wait_runs(database_url, "ringcentral.missed-call-slack", 3, timeout=30)

    assert crashes == [6]  # 3 calls, each call.completed and call.missed
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        keys = conn.execute("SELECT dedup_key FROM zaps_event WHERE source = 'ringcentral.calls'").fetchall()
    assert len(keys) == 6 and len({k["dedup_key"] for k in keys}) == 6
    assert len(slack_runs) == 3


# --- the automations file -------------------------------------------------------------------------------------


def test_the_example_file_is_valid():
    rules = load_rules(EXAMPLE)
    assert [rule.name for rule in rules.automation] == [
        "missed-call-slack",
        "missed-call-sms",
        "voicemail-email",
        "calls-to-crm",
        "sms-to-slack",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[automation]\nname = 'x'", "not valid TOML"),
        ('[[automation]]\nname = "a"\non = "call.missed"\nslak = {text = "hi"}', "automation.0.slak: Extra inputs"),
        ('[[automation]]\nname = "a"\non = "call.mised"\nslack = {text = "x"}', "automation.0.on: Input should be"),
        ('[[automation]]\nname = "a"\non = "call.missed"\nslack = {text = "{callr}"}', "unknown placeholders"),
        ('[[automation]]\nname = "a"\non = "call.missed"', "give exactly one action"),
        ('[[automation]]\nname = "A b"\non = "call.missed"\nslack = {text = "x"}', "lowercase letters"),
        ('timezone = "Mars/Base"', "not a time zone"),
        (
            '[[automation]]\nname = "a"\non = "call.missed"\nfilter = {hours = "business"}\nslack = {text = "x"}',
            "[business_hours] is not set",
        ),
        (
            '[[automation]]\nname = "a"\non = "call.missed"\n'
            '[automation.sms_reply]\ntext = "x"\nquiet_hours = {start = "25:00", end = "08:00"}',
            "not a time of day",
        ),
    ],
)
def test_a_mistake_in_the_file_is_named(text, message):
    with pytest.raises(RulesError) as raised:
        parse_rules(text, source="automations.toml")
    assert message in str(raised.value)
    assert str(raised.value).startswith("automations.toml")


def test_a_mistake_stops_start_up_with_one_line_each(rc_settings, capsys):
    settings = rc_settings(MISSED_RULES.replace("Sorry", "{nonsense}"))
    with pytest.raises(SettingsError):
        service.create_app(settings)
    error = capsys.readouterr().err.strip()
    assert error.startswith("configuration error: ") and "nonsense" in error
    assert "Traceback" not in error


def test_settings_an_automation_needs_are_checked(rc_settings):
    rules = parse_rules(MISSED_RULES + VOICEMAIL_RULES)
    settings = rc_settings(MISSED_RULES, ringcentral_sms_from=None, smtp_host=None, slack_webhook_url=None)
    with pytest.raises(RulesError) as raised:
        check_settings(rules, settings)
    lines = str(raised.value).splitlines()
    assert lines == [
        "automation missed-call-slack posts to Slack: SLACK_WEBHOOK_URL must be set",
        "automation missed-call-sms sends SMS replies: RINGCENTRAL_SMS_FROM must be set",
        "automation voicemail-email sends email: SMTP_HOST and SMTP_FROM must be set",
    ]


def test_business_and_quiet_hours_cross_midnight_correctly():
    from datetime import datetime

    rules = parse_rules(
        '[business_hours]\ndays = ["mon", "tue", "wed", "thu", "fri"]\nstart = "08:30"\nend = "17:30"\n'
        '[[automation]]\nname = "a"\non = "call.missed"\n'
        '[automation.sms_reply]\ntext = "x"\nquiet_hours = {start = "21:00", end = "08:00"}'
    )
    hours = rules.business_hours
    quiet = rules.automation[0].sms_reply.quiet_hours
    monday_9, monday_18, saturday_9 = datetime(2026, 11, 30, 9), datetime(2026, 11, 30, 18), datetime(2026, 12, 5, 9)
    assert hours.contains(monday_9) and not hours.contains(monday_18) and not hours.contains(saturday_9)
    assert quiet.contains(datetime(2026, 11, 30, 23)) and quiet.contains(datetime(2026, 12, 1, 7, 59))
    assert not quiet.contains(datetime(2026, 11, 30, 12)) and not quiet.contains(datetime(2026, 12, 1, 8))
