"""The Slack app connector against a fake Slack Web API (zaps.testing.slack_fake), through a real service and its
worker: posts and thread replies, Slack's rate limits, its ok:false errors, the ledger on replay, and the check
that finds a post whose answer was lost."""

import asyncio
import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from zaps import signing
from zaps.connectors.slack import SlackBot, SlackBotSettings
from zaps.declarations import DeclarationError
from zaps.engine import repository
from zaps.retry import PermanentError, RetryableError, UnsureError
from zaps.testing.apps import running
from zaps.testing.slack_fake import Fault, SlackFake
from zaps.testing.waiting import eventually

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from slack_bot_service import SlackBotTestSettings, service  # noqa: E402

TOKEN = "xoxb-1111-2222-secretbottoken"
SECRET = "hook-secret-0123456789"
AUTOMATION = "slackbottest.announce"
GENERAL = "C0GENERAL1"


@pytest.fixture
def slack():
    with SlackFake(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def app_for(make_settings, slack, monkeypatch):
    """The test service's app, its Slack app settings read from the environment as in production."""

    def build(log_level: str = "WARNING", **environment: str):
        values = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.url, "SLACK_TIMEOUT_S": "5", **environment}
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return service.create_app(make_settings(SlackBotTestSettings, log_level=log_level))

    return build


async def post_event(client: httpx.AsyncClient, payload: dict) -> None:
    body = json.dumps(payload).encode()
    answer = await client.post(
        "/api/slackbottest/hooks/announce",
        content=body,
        headers={"content-type": "application/json", **signing.sign(SECRET, body)},
    )
    assert answer.status_code == 202, answer.text


def query(database_url: str, sql: str, *params) -> list[dict]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


async def settled(database_url: str, count: int = 1, statuses=("succeeded", "dead", "needs_review")) -> list[dict]:
    return await eventually(
        lambda: asyncio.to_thread(
            query, database_url, "SELECT * FROM zaps_run WHERE automation = %s ORDER BY id", AUTOMATION
        ),
        lambda runs: len(runs) == count and all(r["status"] in statuses for r in runs),
        timeout=30,
    )


def steps_of(database_url: str, run_id: int) -> list[tuple[str, str]]:
    rows = query(database_url, "SELECT name, status FROM zaps_step WHERE run_id = %s ORDER BY id", run_id)
    return [(row["name"], row["status"]) for row in rows]


async def test_a_post_with_blocks_and_a_reply_in_its_thread(app_for, slack, database_url):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*New order* #1001"}}]
    async with running(app_for()) as client:
        await post_event(client, {"channel": GENERAL, "text": "New order #1001", "blocks": blocks, "reply": "Paid"})
        (run,) = await settled(database_url)

    assert run["status"] == "succeeded"
    parent, reply = slack.messages(GENERAL)
    assert parent["blocks"] == blocks and parent["text"] == "New order #1001"
    assert reply["thread_ts"] == parent["ts"] and reply["text"] == "Paid"
    assert parent["metadata"]["event_payload"]["idempotency_key"].endswith("/announce")
    posts = slack.calls_to("chat.postMessage")
    assert posts[1].at - posts[0].at >= 0.8  # paced: Slack takes about one message per second per channel
    outputs = query(database_url, "SELECT step, output FROM zaps_ledger ORDER BY started_at")
    assert [o["output"] for o in outputs] == [
        {"channel": GENERAL, "ts": parent["ts"]},
        {"channel": GENERAL, "ts": reply["ts"], "thread_ts": parent["ts"]},
    ]


async def test_a_429_is_retried_after_the_wait_slack_asked_for(app_for, slack, database_url):
    slack.fail_next("chat.postMessage", Fault.rate_limited(1.5))
    async with running(app_for()) as client:
        await post_event(client, {"channel": GENERAL, "text": "hello"})
        (run,) = await settled(database_url)

    assert run["status"] == "succeeded"
    refused, taken = slack.calls_to("chat.postMessage")
    assert taken.at - refused.at >= 1.5
    assert len(slack.messages(GENERAL)) == 1
    assert steps_of(database_url, run["id"]) == [("announce", "failed"), ("announce", "succeeded")]


async def test_a_replayed_run_posts_nothing_twice(app_for, slack, database_url):
    # The post goes through; its thread reply meets three 500s, so the run is dead after its three attempts.
    slack.fail_next("chat.postMessage", Fault.ok(), Fault.server_error(), Fault.server_error(), Fault.server_error())
    app = app_for()
    async with running(app) as client:
        await post_event(client, {"channel": GENERAL, "text": "order", "reply": "details"})
        (run,) = await settled(database_url)
        assert run["status"] == "dead"
        for _ in range(2):  # the dead run, then the same run once it has succeeded
            async with app.state.runtime.database.connection() as conn:
                assert (await repository.replay(conn, [run["id"]])).queued == [run["id"]]
            await eventually(
                lambda: asyncio.to_thread(query, database_url, "SELECT status FROM zaps_run"),
                lambda runs: runs[0]["status"] == "succeeded",
            )
            await asyncio.sleep(0.3)

    parent, reply = slack.messages(GENERAL)
    assert reply["thread_ts"] == parent["ts"]
    assert len(slack.calls_to("chat.postMessage")) == 5  # 1 post, 3 refused replies, 1 reply: nothing again
    assert [name for name, status in steps_of(database_url, run["id"]) if status == "reused"][-2:] == [
        "announce",
        "reply",
    ]


async def test_a_post_applied_but_answered_too_late_is_found_by_the_check(app_for, slack, database_url):
    slack.fail_next("chat.postMessage", Fault.timeout_after_applying(2.0))
    async with running(app_for(SLACK_TIMEOUT_S="0.5")) as client:
        await post_event(client, {"channel": GENERAL, "text": "exactly once"})
        (run,) = await settled(database_url)

    assert run["status"] == "succeeded"
    (message,) = slack.messages(GENERAL)
    assert len(slack.calls_to("chat.postMessage")) == 1
    (lookup,) = slack.calls_to("conversations.history")
    assert lookup.args["include_all_metadata"] == "true" and lookup.args["channel"] == GENERAL
    (entry,) = query(database_url, "SELECT status, resolution, tries, output FROM zaps_ledger")
    assert (entry["status"], entry["resolution"], entry["tries"]) == ("succeeded", "checked: done", 1)
    assert entry["output"] == {"channel": GENERAL, "ts": message["ts"]}
    assert steps_of(database_url, run["id"]) == [("announce", "unsure"), ("announce", "verified")]


async def test_a_reply_whose_post_was_lost_is_sent_again_after_the_thread_is_checked(app_for, slack, database_url):
    # The reply times out before Slack applies it (nothing posted): the check reads the thread, finds nothing, resends.
    slack.fail_next("chat.postMessage", Fault.ok(), Fault(delay_s=2.0, status=500))
    async with running(app_for(SLACK_TIMEOUT_S="0.5")) as client:
        await post_event(client, {"channel": GENERAL, "text": "order", "reply": "details"})
        (run,) = await settled(database_url)

    assert run["status"] == "succeeded"
    parent, reply = slack.messages(GENERAL)
    assert reply["thread_ts"] == parent["ts"]
    (lookup,) = slack.calls_to("conversations.replies")
    assert lookup.args["ts"] == parent["ts"] and lookup.args["include_all_metadata"] == "true"
    (entry,) = query(database_url, "SELECT resolution, tries FROM zaps_ledger WHERE step = 'reply'")
    assert entry["tries"] == 2


async def test_a_refused_token_ends_the_run_dead_naming_the_credential(app_for, slack, database_url):
    wrong = "xoxb-9999-8888-notthetoken"
    async with running(app_for(SLACK_BOT_TOKEN=wrong)) as client:
        await post_event(client, {"channel": GENERAL, "text": "hello"})
        (run,) = await settled(database_url)

    assert (run["status"], run["attempts"]) == ("dead", 1)  # no retry will fix a refused token
    assert "the bot token (SLACK_BOT_TOKEN) is not valid" in run["error"] and "invalid_auth" in run["error"]
    assert wrong not in run["error"] and TOKEN not in run["error"]
    assert slack.messages(GENERAL) == []


@pytest.mark.parametrize(("channel", "code"), [("C0NOSUCH01", "channel_not_found"), ("C0OUTSIDE1", "not_in_channel")])
async def test_a_channel_the_bot_cannot_post_to_ends_the_run_dead_with_the_hint(
    app_for, slack, database_url, channel, code
):
    slack.add_channel("C0OUTSIDE1", "outside", member=False)
    async with running(app_for()) as client:
        await post_event(client, {"channel": channel, "text": "hello"})
        (run,) = await settled(database_url)

    assert (run["status"], run["attempts"]) == ("dead", 1)
    assert f"channel {channel}" in run["error"] and code in run["error"]
    assert "invite the bot to the channel" in run["error"]


def test_a_missing_bot_token_stops_the_start_naming_it(make_settings, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(DeclarationError) as stopped:
        service.create_app(make_settings(SlackBotTestSettings))
    assert f"automation {AUTOMATION} uses Slack app: SLACK_BOT_TOKEN is not set" in str(stopped.value)


def test_a_token_that_is_not_a_bot_token_stops_the_start_without_quoting_it(make_settings, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token-4c1d")
    with pytest.raises(DeclarationError) as stopped:
        service.create_app(make_settings(SlackBotTestSettings))
    assert "SLACK_BOT_TOKEN is invalid" in str(stopped.value)
    assert "xoxp-user-token" not in str(stopped.value)


async def test_the_token_never_appears_in_logs_or_run_records(app_for, slack, database_url, capsys):
    """The service logging at DEBUG (JSON lines on stdout): a post and its reply, a 500, a rate limit and a dead run
    leave no trace of the token in a log line or in any run record."""
    slack.fail_next("chat.postMessage", Fault.server_error(), Fault.rate_limited(0.2))
    async with running(app_for(log_level="DEBUG")) as client:
        await post_event(client, {"channel": GENERAL, "text": "hi", "reply": "there"})
        await post_event(client, {"channel": "C0NOSUCH01", "text": "x"})
        runs = await settled(database_url, 2, statuses=("succeeded", "dead"))
    assert [r["status"] for r in runs] == ["succeeded", "dead"]
    assert all(call.token == TOKEN for call in slack.calls)  # it was sent, to Slack only
    recorded = query(
        database_url,
        "SELECT (SELECT json_agg(r) FROM zaps_run r)::text AS runs, (SELECT json_agg(s) FROM zaps_step s)::text "
        "AS steps, (SELECT json_agg(l) FROM zaps_ledger l)::text AS ledger, "
        "(SELECT json_agg(a) FROM zaps_attempt a)::text AS attempts",
    )[0]
    output = capsys.readouterr().out
    assert "run failed; retrying" in output and "run is dead" in output  # the failures were logged, at DEBUG
    assert "chat.postMessage" in output  # and so were the HTTP calls (httpcore's DEBUG lines)
    for where, text in {"log": output, **recorded}.items():
        assert TOKEN not in text, where
        assert "secretbottoken" not in text, where


async def test_an_unsure_post_that_cannot_be_checked_holds_the_run_for_review(app_for, database_url):
    # Without channels:history the check cannot read the channel: a person decides, rather than risk a double.
    with SlackFake(token=TOKEN, scopes=("chat:write",)) as slack:
        slack.fail_next("chat.postMessage", Fault.timeout_after_applying(2.0))
        async with running(app_for(SLACK_API_URL=slack.url, SLACK_TIMEOUT_S="0.5")) as client:
            await post_event(client, {"channel": GENERAL, "text": "hello"})
            (run,) = await settled(database_url)
    assert run["status"] == "needs_review"
    assert "channels:history" in run["error"]
    assert len(slack.messages(GENERAL)) == 1 and len(slack.calls_to("chat.postMessage")) == 1


def bot_for(slack: SlackFake, **settings) -> SlackBot:
    return SlackBot(SlackBotSettings(slack_bot_token=TOKEN, slack_api_url=slack.url, _env_file=None, **settings))


async def test_the_connection_check_reads_who_the_token_is_and_names_a_refused_one(slack):
    bot = bot_for(slack)
    assert await bot.check() == "bot zaps in workspace Fake"
    slack.revoked.add(TOKEN)
    with pytest.raises(PermanentError, match=r"the bot token \(SLACK_BOT_TOKEN\) was revoked") as refused:
        await bot.check()
    assert TOKEN not in str(refused.value)
    assert slack.messages(GENERAL) == []
    await bot.aclose()


async def test_a_missing_scope_names_the_scope_to_add(slack):
    slack.scopes = {"channels:read"}
    bot = bot_for(slack)
    with pytest.raises(PermanentError, match=r"lacks the chat:write scope: add it under OAuth & Permissions"):
        await bot.post_message(channel=GENERAL, text="hi", idempotency_key="k1")
    await bot.aclose()


async def test_slacks_own_failures_retry_and_those_that_may_have_posted_are_unsure(slack):
    slack.fail_next("chat.postMessage", Fault.server_error(), Fault.slack_error("internal_error"))
    bot = bot_for(slack, slack_default_channel=GENERAL)
    with pytest.raises(RetryableError) as refused:
        await bot.post_message(channel=GENERAL, text="hi", idempotency_key="k1")
    assert not isinstance(refused.value, UnsureError)  # a 500: not done, sent again as usual
    with pytest.raises(UnsureError, match="internal_error"):  # Slack: "some aspect ... may have succeeded"
        await bot.post_message(channel=GENERAL, text="hi", idempotency_key="k1")
    await bot.aclose()


async def test_posts_to_one_channel_are_paced_and_the_check_finds_them_by_channel_name(slack):
    slack.add_channel("C0ALERTS01", "alerts")
    bot = bot_for(slack)
    started = datetime.now(UTC)
    first, second, other = await asyncio.gather(
        bot.post_message(channel="#alerts", text="one", idempotency_key="k1"),
        bot.post_message(channel="#alerts", text="two", idempotency_key="k2"),
        bot.post_message(channel=GENERAL, text="elsewhere", idempotency_key="k3"),
    )
    posts = slack.calls_to("chat.postMessage")
    alerts = sorted(c.at for c in posts if c.args["channel"] == "#alerts")
    assert alerts[1] - alerts[0] >= 0.8 and len(posts) == 3  # paced, and no post refused
    found = await bot.find_posted(channel="#alerts", idempotency_key="k2", since=started)
    assert found == second and first["channel"] == "C0ALERTS01"
    assert await bot.find_posted(channel="#alerts", idempotency_key="k3", since=started) is None
    assert other["channel"] == GENERAL
    await bot.aclose()


def test_the_fake_takes_form_bodies_with_the_token_as_a_field_as_slack_does(slack):
    answer = httpx.post(
        slack.url + "/chat.postMessage",
        data={"token": TOKEN, "channel": "general", "text": "hi", "metadata": json.dumps({"event_type": "x_y"})},
    ).json()
    assert answer["ok"] is True and answer["channel"] == GENERAL
    history = httpx.get(
        slack.url + "/conversations.history",
        params={"channel": GENERAL},
        headers={"authorization": f"Bearer {TOKEN}"},
    ).json()
    assert [m["text"] for m in history["messages"]] == ["hi"] and "metadata" not in history["messages"][0]
    assert httpx.post(slack.url + "/chat.postMessage", data={"channel": GENERAL}).json()["error"] == "not_authed"


DOCS = HERE.parents[3] / "docs" / "connectors.md"
DOCS_SERVICE = """
from pydantic import SecretStr
from zaps import Service, ZapsSettings


class Settings(ZapsSettings):
    service_name: str = "docslack"
    path_prefix: str = "/api/docslack"
    orders_secret: SecretStr = SecretStr("orders-secret-0123456789")


service = Service(Settings)
"""


async def test_the_worked_example_in_the_docs_posts_and_replies_in_the_thread(
    slack, make_settings, database_url, tmp_path, monkeypatch
):
    section = DOCS.read_text().split("## Slack apps (a bot token)")[1].split("\n## ")[0]
    example = section.split("```python\n")[1].split("```")[0]
    path = tmp_path / "docs_slack_example.py"
    path.write_text(DOCS_SERVICE + example)
    spec = importlib.util.spec_from_file_location("docs_slack_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    slack.add_channel("C0123456789", "orders")
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack.url)

    async with running(module.service.create_app(make_settings(module.Settings))) as client:
        body = json.dumps({"id": "1001", "summary": "2 mugs, paid"}).encode()
        answer = await client.post(
            "/api/docslack/hooks/new-order",
            content=body,
            headers={"content-type": "application/json", **signing.sign("orders-secret-0123456789", body)},
        )
        assert answer.status_code == 202, answer.text
        await eventually(
            lambda: asyncio.to_thread(query, database_url, "SELECT status FROM zaps_run"),
            lambda runs: len(runs) == 1 and runs[0]["status"] in ("succeeded", "dead"),
            timeout=30,
        )
    parent, reply = slack.messages("C0123456789")
    assert parent["text"] == "New order 1001" and parent["blocks"][0]["text"]["text"] == "*New order* 1001"
    assert (reply["thread_ts"], reply["text"]) == (parent["ts"], "2 mugs, paid")
