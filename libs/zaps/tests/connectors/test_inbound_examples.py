"""The worked examples of docs/connectors.md that start from an inbound webhook, run as the docs show them, each
served by uvicorn on a real port and sent a real HTTP request:

- docs/examples/contact_form.py: the form of contact_form.html, posted form-encoded to the URL in its `action` →
  a Slack message with the details in its thread (the fake Slack) and an email (a real local SMTP server);
- docs/examples/stripe_payment.py: a `payment_intent.succeeded` event signed as Stripe documents → one row (the
  fake Google Sheets).

Each is sent twice (a double click, Stripe's retry) and its run replayed: nothing is posted, mailed or written twice.
"""

import asyncio
import hashlib
import hmac
import importlib.util
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import uvicorn
from psycopg.rows import dict_row
from zaps.testing.apps import free_port
from zaps.testing.sheets_fake import FakeGoogle
from zaps.testing.slack_fake import SlackFake
from zaps.testing.waiting import eventually

EXAMPLES = Path(__file__).resolve().parents[4] / "docs" / "examples"
FORM_TOKEN = "form-token-0123456789abcdef"
STRIPE_SECRET = "whsec_test_0123456789abcdef"
SLACK_TOKEN = "xoxb-1111-2222-sitebot"
CHANNEL = "C0123456789"  # the channel the example's settings name by default
SHEET_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
PAYMENTS_HEADER = ["Stripe event", "Payment", "When (UTC)", "Amount", "Currency", "Receipt to"]


def load(name: str) -> ModuleType:
    """An example file as a module of its own (a fresh `service` each time)."""
    spec = importlib.util.spec_from_file_location(f"{name}_example", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The app behind uvicorn on 127.0.0.1 (its lifespan starts the worker); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise AssertionError("the example's server did not start")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def query(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


async def finished(database_url: str, automation: str) -> dict[str, Any]:
    (run,) = await eventually(
        lambda: asyncio.to_thread(query, database_url, "SELECT * FROM zaps_run WHERE automation = %s", automation),
        lambda runs: len(runs) == 1 and runs[0]["status"] in ("succeeded", "dead", "needs_review"),
        timeout=30,
    )
    return run


async def replay(client: httpx.AsyncClient, base: str, prefix: str, database_url: str, run: dict[str, Any]) -> None:
    """Replay the run through the admin API; wait until it has succeeded again with every step reused."""
    answer = await client.post(
        f"{base}{prefix}/admin/runs/replay", json={"run_ids": [run["id"]]}, headers={"Authorization": "Bearer changeme"}
    )
    assert answer.json()["queued"] == [run["id"]], answer.text
    sql = "SELECT name, status FROM zaps_step WHERE run_id = %s ORDER BY id"
    steps = await eventually(
        lambda: asyncio.to_thread(query, database_url, sql, run["id"]),
        lambda got: sum(s["status"] == "reused" for s in got) == sum(s["status"] == "succeeded" for s in got),
        timeout=30,
    )
    (again,) = query(database_url, "SELECT status FROM zaps_run WHERE id = %s", run["id"])
    assert again["status"] == "succeeded"
    assert [s["status"] for s in steps].count("reused") >= 1


class FormReader(HTMLParser):
    """The form of a page: its method, its action, and the names of its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, str | None] = {}
        self.fields: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.form = dict(attrs)
        elif tag in ("input", "textarea", "select"):
            self.fields.append(str(dict(attrs)["name"]))


# --- A contact form → a Slack thread and an email


@pytest.fixture
def slack(monkeypatch):
    with SlackFake(token=SLACK_TOKEN) as fake:
        fake.add_channel(CHANNEL, "website")
        monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
        monkeypatch.setenv("SLACK_API_URL", fake.url)
        yield fake


async def test_the_contact_form_posts_a_slack_thread_and_sends_one_email(
    slack, outbox, make_settings, database_url, capsys
):
    example = load("contact_form")
    page = FormReader()
    page.feed((EXAMPLES / "contact_form.html").read_text())
    assert page.form["method"] == "post" and page.fields == ["name", "email", "message"]
    action = urlsplit(str(page.form["action"]))
    # The page's own action, on this test's server and with this test's token: what a browser would post.
    path = action.path.replace("YOUR_CONTACT_FORM_TOKEN", FORM_TOKEN)
    filled = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Call me back <!channel> & thanks"}
    assert set(filled) == set(page.fields)

    # DEBUG: uvicorn's access lines too, each with the request's path, token included unless masked.
    settings = make_settings(example.Settings, contact_form_token=FORM_TOKEN, log_level="DEBUG", **outbox.settings)
    async with serving(example.service.create_app(settings)) as base, httpx.AsyncClient() as client:
        answer = await client.post(base + path, data=filled)  # application/x-www-form-urlencoded, as a browser
        assert answer.status_code == 200, answer.text  # the Reply's status, new event or not
        assert answer.headers["content-type"].startswith("text/html") and "Thank you" in answer.text
        run = await finished(database_url, "site.contact-form")
        assert run["status"] == "succeeded", run["error"]

        again = await client.post(base + path, data=filled)  # a double click: the same event
        assert again.status_code == 200 and "Thank you" in again.text
        wrong = await client.post(base + path.replace(FORM_TOKEN, "not-the-token"), data=filled)
        assert wrong.status_code == 401
        await replay(client, base, "/api/site", database_url, run)
        (mail,) = await outbox.wait_for(1)

    first, reply = slack.messages(CHANNEL)
    assert first["text"] == "New message from Ada Lovelace" and "thread_ts" not in first
    assert reply["thread_ts"] == first["ts"]
    assert reply["text"] == "From: Ada Lovelace (ada@example.com)\n\nCall me back &lt;!channel&gt; &amp; thanks"
    assert mail.to == ["office@example.com"] and mail.subject == "Contact form: Ada Lovelace"
    assert "Call me back <!channel> & thanks" in mail.body and "ada@example.com" in mail.body
    assert len(outbox.messages) == 1 and len(slack.calls_to("chat.postMessage")) == 2
    assert query(database_url, "SELECT count(*) AS n FROM zaps_run")[0]["n"] == 1
    logged = capsys.readouterr().out
    assert "/hooks/contact-form/t/[redacted]" in logged
    assert FORM_TOKEN not in logged and SLACK_TOKEN not in logged


# --- A Stripe payment → a row


def stripe_signed(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Stripe's documented scheme, written out here rather than taken from Zaps: `t=<unix time>,v1=<hex of
    HMAC-SHA256(secret, "<t>.<body>")>`."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={moment},v1={digest}", "content-type": "application/json; charset=utf-8"}


PAYMENT_EVENT = {
    "id": "evt_3QpXyZ2eZvKYlo2C1abcdEFG",
    "object": "event",
    "api_version": "2024-06-20",
    "created": 1796290020,
    "livemode": False,
    "type": "payment_intent.succeeded",
    "data": {
        "object": {
            "id": "pi_3QpXyZ2eZvKYlo2C1xyzABCD",
            "object": "payment_intent",
            "amount": 4990,
            "amount_received": 4990,
            "currency": "eur",
            "created": 1796290000,
            "status": "succeeded",
            "receipt_email": "ada@example.com",
        }
    },
}


@pytest.fixture
def google(monkeypatch):
    with FakeGoogle() as fake:
        account = fake.service_account()
        fake.spreadsheet(SHEET_ID, {"Payments": [PAYMENTS_HEADER]}, shared_with=[account.client_email])
        monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_JSON", account.key_json())
        monkeypatch.setenv("GOOGLE_SHEETS_API_URL", fake.url)
        yield fake


async def test_a_stripe_payment_is_one_row(google, make_settings, database_url, capsys):
    example = load("stripe_payment")
    url = "/api/shop/hooks/stripe-payment"
    body = json.dumps(PAYMENT_EVENT).encode()

    settings = make_settings(example.Settings, stripe_webhook_secret=STRIPE_SECRET, log_level="DEBUG")
    async with serving(example.service.create_app(settings)) as base, httpx.AsyncClient() as client:
        answer = await client.post(base + url, content=body, headers=stripe_signed(body, STRIPE_SECRET))
        assert answer.status_code == 202, answer.text
        run = await finished(database_url, "shop.stripe-payment")
        assert run["status"] == "succeeded", run["error"]
        writes = len(google.writes())

        # Stripe's retry of the same event, signed again later: the same event, no second run.
        retried = await client.post(base + url, content=body, headers=stripe_signed(body, STRIPE_SECRET))
        assert (retried.status_code, retried.json()["duplicate"]) == (200, True)
        forged = await client.post(base + url, content=body, headers=stripe_signed(body, "whsec_not_the_secret"))
        stale = await client.post(
            base + url, content=body, headers=stripe_signed(body, STRIPE_SECRET, int(time.time()) - 600)
        )
        assert (forged.status_code, stale.status_code) == (401, 401)
        await replay(client, base, "/api/shop", database_url, run)

    header, *rows = google.rows(SHEET_ID, "Payments")
    assert header == PAYMENTS_HEADER
    assert rows == [
        [
            "evt_3QpXyZ2eZvKYlo2C1abcdEFG",
            "pi_3QpXyZ2eZvKYlo2C1xyzABCD",
            "2026-12-03 09:26:40",
            49.9,  # "49.90" as typed: a number in the sheet
            "EUR",
            "ada@example.com",
        ]
    ]
    assert len(google.writes()) == writes
    assert query(database_url, "SELECT count(*) AS n FROM zaps_run")[0]["n"] == 1
    logged = capsys.readouterr().out
    assert "stripe-payment" in logged and STRIPE_SECRET not in logged and "PRIVATE KEY" not in logged


async def test_a_stripe_event_that_is_not_a_payment_is_filtered(google, make_settings, database_url):
    example = load("stripe_payment")
    refund = {**PAYMENT_EVENT, "id": "evt_refund_1", "type": "charge.refunded"}
    body = json.dumps(refund).encode()
    settings = make_settings(example.Settings, stripe_webhook_secret=STRIPE_SECRET)
    async with serving(example.service.create_app(settings)) as base, httpx.AsyncClient() as client:
        answer = await client.post(
            base + "/api/shop/hooks/stripe-payment", content=body, headers=stripe_signed(body, STRIPE_SECRET)
        )
        assert answer.status_code == 202, answer.text
        run = await eventually(
            lambda: asyncio.to_thread(query, database_url, "SELECT * FROM zaps_run"),
            lambda runs: len(runs) == 1 and runs[0]["status"] == "filtered",
            timeout=30,
        )
    assert run[0]["filter_reason"] == "charge.refunded is not a payment"
    assert google.rows(SHEET_ID, "Payments") == [PAYMENTS_HEADER]
