"""An automations-file rule with `channel` posts through the Slack app (SLACK_BOT_TOKEN, chat.postMessage) instead
of an incoming webhook: a missed call from the simulator becomes one message in the fake Slack's channel."""

import asyncio

import psycopg
import pytest
import redis.asyncio as redis
from psycopg.rows import dict_row
from ringcentral_service.service import service
from ringcentral_service.settings import Settings
from ringcentral_service.simulator import SimulatorConfig
from ringcentral_service.store import namespace_for
from zaps.declarations import DeclarationError
from zaps.testing.apps import running
from zaps.testing.slack_fake import SlackFake
from zaps.testing.waiting import eventually

TOKEN = "xoxb-4444-5555-ringcentralbot"
CALLER = "+14155550123"  # the simulator's default caller
RULES = """
timezone = "America/New_York"

[[automation]]
name = "missed-call-slack-app"
on = "call.missed"
[automation.slack]
channel = "#front-desk"
text = "Missed call from {caller} {caller_name}"
"""


@pytest.fixture
async def settings_for(make_settings, sim_credentials, sim, tmp_path, redis_url):
    def build(**overrides):
        path = tmp_path / "automations.toml"
        path.write_text(RULES)
        values = {**sim_credentials, "ringcentral_automations_file": path, "ringcentral_poll_interval_seconds": 7}
        return make_settings(Settings, **values, **overrides)

    yield build
    if redis_url:  # the shared token and budgets of the simulator's credentials must not leak into other tests
        config = SimulatorConfig()
        client = redis.Redis.from_url(redis_url)
        pattern = namespace_for(sim.base_url, config.client_id, config.jwt) + ":*"
        keys = [key async for key in client.scan_iter(match=pattern)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def runs(database_url):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM zaps_run WHERE automation = 'ringcentral.missed-call-slack-app'").fetchall()


async def test_a_rule_with_a_channel_posts_through_the_slack_app(settings_for, sim, database_url, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(DeclarationError, match="uses Slack app: SLACK_BOT_TOKEN is not set"):
        service.create_app(settings_for())

    await sim.add_call(direction="Inbound", result="Missed")
    with SlackFake(token=TOKEN) as slack:
        slack.add_channel("C0FRONTDSK", "front-desk")
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        async with running(service.create_app(settings_for())):  # no SLACK_WEBHOOK_URL needed
            (run,) = await eventually(
                lambda: asyncio.to_thread(runs, database_url),
                lambda found: len(found) == 1 and found[0]["status"] in ("succeeded", "dead"),
                timeout=25,
            )

    assert run["status"] == "succeeded", run["error"]
    (message,) = slack.messages("C0FRONTDSK")
    assert message["text"] == f"Missed call from {CALLER} Pat Caller"
