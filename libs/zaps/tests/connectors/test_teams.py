"""Microsoft Teams through a Workflows webhook, against a fake of the flow's trigger (zaps.testing.teams_fake): a card
and a line posted, 5xx and 429 retried, a replay that posts nothing, a bad or dead workflow URL dead at once with
what to do (and never the URL), a timeout resent, and a missing TEAMS_WORKFLOW_URL stopping the start."""

import asyncio
import json
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import SecretStr
from zaps import Retry, Run, Service, ZapsSettings, signing, webhook
from zaps.connectors import ConnectorSettingsError, load_settings
from zaps.connectors.teams import Teams, TeamsSettings, card, message, post_card, post_text
from zaps.declarations import DeclarationError
from zaps.retry import PermanentError, RetryableError
from zaps.testing.apps import free_port, running
from zaps.testing.teams_fake import Scripted, TeamsWorkflowsFake, shape_problems
from zaps.testing.waiting import eventually

PREFIX = "/api/teamstest"
HOOK_SECRET = "hook-secret-0123456789"
AUTOMATION = "teamstest.notify"


class TeamsTestSettings(ZapsSettings):
    service_name: str = "teamstest"
    path_prefix: str = PREFIX
    hook_secret: SecretStr = SecretStr(HOOK_SECRET)


service = Service(TeamsTestSettings)


@service.automation(
    webhook(secret_setting="hook_secret"),
    retry=Retry.exponential(attempts=3, first=timedelta(seconds=0.05), cap=timedelta(seconds=0.3)),
    uses=[Teams],
)
async def notify(run: Run[TeamsTestSettings]) -> None:
    order = run.event.payload
    facts = {"Customer": order["customer"], "Total": order["total"]}  # in this order on the card
    await post_card(run, "tell-sales", title="New order", text=f"Order **{order['id']}** is paid", facts=facts)
    if order.get("line"):
        await post_text(run, "tell-ops", order["line"])


@pytest.fixture
def teams(monkeypatch):
    with TeamsWorkflowsFake() as fake:
        monkeypatch.setenv("TEAMS_WORKFLOW_URL", fake.url())
        yield fake


def query(database_url, sql, *params):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


async def start(client, payload):
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", **signing.sign(HOOK_SECRET, body)}
    answer = await client.post(f"{PREFIX}/hooks/notify", content=body, headers=headers)
    assert answer.status_code == 202, answer.text


async def finished(database_url):
    (run,) = await eventually(
        lambda: asyncio.to_thread(query, database_url, "SELECT * FROM zaps_run WHERE automation = %s", AUTOMATION),
        lambda got: len(got) == 1 and got[0]["status"] in ("succeeded", "dead", "needs_review"),
        timeout=20,
    )
    return run


def steps(database_url, run_id):
    return query(database_url, "SELECT * FROM zaps_step WHERE run_id = %s ORDER BY id", run_id)


ORDER = {"id": "A-17", "customer": "Ada", "total": "120 EUR"}
FACTS = {"Customer": "Ada", "Total": "120 EUR"}


async def test_a_card_and_a_line_are_posted_to_the_channel(make_settings, database_url, teams):
    app = service.create_app(make_settings(TeamsTestSettings))
    async with running(app) as client:
        await start(client, {**ORDER, "line": "Pack order A-17 today"})
        run = await finished(database_url)
    assert run["status"] == "succeeded", run["error"]
    sales, ops = teams.posts
    assert sales.headers["content-type"] == "application/json"
    assert sales.json["type"] == "message"
    assert sales.json["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    title, text, facts = sales.card["body"]
    assert (title["text"], title["weight"]) == ("New order", "Bolder")
    assert text["text"] == "Order **A-17** is paid"
    assert facts["facts"] == [{"title": "Customer", "value": "Ada"}, {"title": "Total", "value": "120 EUR"}]
    assert [block["text"] for block in ops.card["body"]] == ["Pack order A-17 today"]
    recorded = {s["name"]: (s["input"], s["output"]) for s in steps(database_url, run["id"])}
    assert recorded["tell-sales"] == (
        {"title": "New order", "text": "Order **A-17** is paid", "facts": FACTS},
        {"status": 202},
    )


async def test_a_5xx_then_a_429_are_retried_and_the_card_is_posted_once(make_settings, database_url, teams):
    teams.script(502, Scripted(429, headers={"retry-after": "1"}))
    app = service.create_app(make_settings(TeamsTestSettings))
    async with running(app) as client:
        await start(client, ORDER)
        run = await finished(database_url)
    assert (run["status"], run["attempts"]) == ("succeeded", 3)
    assert [r.status for r in teams.requests] == [502, 429, 202]
    assert teams.requests[2].at - teams.requests[1].at >= 0.9  # Retry-After, not the 0.1 s backoff
    assert len(teams.posts) == 1


async def test_replaying_a_succeeded_run_posts_nothing_again(make_settings, database_url, teams):
    app = service.create_app(make_settings(TeamsTestSettings))
    async with running(app) as client:
        await start(client, ORDER)
        run = await finished(database_url)
        replayed = await client.post(
            f"{PREFIX}/admin/runs/replay", json={"run_ids": [run["id"]]}, headers={"Authorization": "Bearer changeme"}
        )
        assert replayed.json()["queued"] == [run["id"]]
        await eventually(
            lambda: asyncio.to_thread(steps, database_url, run["id"]),
            lambda got: [s["status"] for s in got] == ["succeeded", "reused"],
        )
    assert len(teams.requests) == 1


@pytest.mark.parametrize(
    ("break_it", "said"),
    [
        ("signature", "401 (DirectApiInvalidAuthorizationSignature): the URL's signature is not valid"),
        ("deleted", "404 (WorkflowNotFound): the workflow no longer exists"),
        ("turned-off", "400 (WorkflowTriggerIsNotEnabled): the workflow is turned off"),
    ],
)
async def test_a_bad_or_dead_workflow_url_is_dead_at_once_with_what_to_do(
    make_settings, database_url, teams, monkeypatch, break_it, said
):
    wrong = "wrong-signature-Zq81xL"
    if break_it == "signature":
        monkeypatch.setenv("TEAMS_WORKFLOW_URL", teams.url(signature=wrong))
    elif break_it == "deleted":
        monkeypatch.setenv("TEAMS_WORKFLOW_URL", teams.url(workflow_id="0" * 32))
    else:
        teams.enabled = False
    app = service.create_app(make_settings(TeamsTestSettings))
    async with running(app) as client:
        await start(client, ORDER)
        run = await finished(database_url)
    assert (run["status"], run["attempts"]) == ("dead", 1)
    assert f"Microsoft Teams workflow answered {said}" in run["error"]
    assert teams.posts == []
    kept = [
        row["t"]
        for t in ("zaps_run", "zaps_attempt", "zaps_step")
        for row in query(database_url, f"SELECT x::text AS t FROM {t} x")
    ]
    for text in kept:  # the URL is the credential: neither it nor its signature is kept anywhere
        assert teams.signature not in text and wrong not in text and "/triggers/manual" not in text


async def test_a_timeout_after_sending_is_resent_and_the_channel_may_see_it_twice(
    make_settings, database_url, teams, monkeypatch
):
    monkeypatch.setenv("TEAMS_TIMEOUT_S", "0.5")
    teams.script(Scripted(202, delay_s=2.0))
    app = service.create_app(make_settings(TeamsTestSettings))
    async with running(app) as client:
        await start(client, ORDER)
        run = await finished(database_url)
    assert run["status"] == "succeeded"
    assert len(teams.posts) == 2  # the rule's price: a doubled notice, never a run held for one
    assert [s["status"] for s in steps(database_url, run["id"])] == ["unsure", "unsure", "succeeded"]


async def test_a_missing_workflow_url_stops_the_start_naming_it(make_settings, monkeypatch):
    monkeypatch.delenv("TEAMS_WORKFLOW_URL", raising=False)
    with pytest.raises(
        DeclarationError, match=r"automation teamstest\.notify uses Microsoft Teams: TEAMS_WORKFLOW_URL is not set"
    ):
        service.create_app(make_settings(TeamsTestSettings))


def test_a_workflow_url_that_is_no_web_address_is_named_never_quoted(monkeypatch):
    monkeypatch.setenv("TEAMS_WORKFLOW_URL", "prod-00.westeurope.logic.azure.com/workflows/x?sig=Secret123")
    with pytest.raises(ConnectorSettingsError) as refused:
        load_settings(TeamsSettings, Teams.name)
    assert "TEAMS_WORKFLOW_URL is invalid" in str(refused.value)
    assert "Secret123" not in str(refused.value)


def test_the_cards_made_here_have_the_documented_shape():
    assert shape_problems(message(card(title="t", text="x", facts={"a": 1}))) == []
    assert shape_problems(message(card(text="only a line"))) == []
    assert shape_problems({"type": "message", "attachments": []}) == ['"attachments" must be a non-empty list']
    assert shape_problems(message({"type": "AdaptiveCard", "version": "1.2", "body": [{"type": "TextBlock"}]})) == [
        "attachments[0].content.body[0]: a TextBlock needs a text"
    ]
    with pytest.raises(ValueError, match="needs a title"):
        card()


async def test_the_fake_refuses_a_card_of_the_wrong_shape_as_a_dead_error(teams):
    client = Teams(workflow_url=teams.url())
    try:
        with pytest.raises(PermanentError, match=r"400 \(TriggerInputSchemaMismatch\)"):
            await client.post({"type": "AdaptiveCard", "version": "1.2", "body": [{"type": "FactSet", "facts": [1]}]})
    finally:
        await client.aclose()
    assert teams.posts == []


async def test_a_workflow_that_cannot_be_reached_is_retried_and_its_url_never_shown():
    url = f"http://127.0.0.1:{free_port()}/workflows/abc/triggers/manual/paths/invoke?sig=Unreachable9x"
    client = Teams(workflow_url=url)
    try:
        with pytest.raises(RetryableError) as refused:
            await client.post(card(text="hello"))
    finally:
        await client.aclose()
    assert str(refused.value) == "Microsoft Teams workflow unreachable: ConnectError"
