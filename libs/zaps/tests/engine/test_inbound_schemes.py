"""Inbound webhooks as real senders send them: each provider's own signature (Stripe, GitHub, Shopify, Slack, a
generic HMAC), form posts from a plain HTML page, text bodies, a token in the URL, and the replies senders expect.

Every test talks HTTP to the real app over a real, per-test PostgreSQL database. For each scheme: a valid request is
stored once, the exact same request replayed is a duplicate, and a wrong, missing or stale signature is a 401 that
stores nothing. The event's key comes only from what the sender signed."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import query
from inbound_service import TWIML, InboundSettings, service
from zaps.engine.schemes import Scheme
from zaps.engine.triggers import Webhook
from zaps.signing import SignatureError
from zaps.testing.apps import running, server_process

PREFIX = "/api/inboundtest"
HERE = Path(__file__).parent
TOKEN = InboundSettings().form_token.get_secret_value()
SECRETS = {
    "stripe-payments": "stripe_secret",
    "github-pushes": "github_secret",
    "shopify-orders": "shopify_secret",
    "slack-events": "slack_secret",
    "vendor-events": "vendor_secret",
    "vendor-body-only": "vendor_secret",
}
TIMESTAMPED = ["stripe-payments", "slack-events", "vendor-events"]
# What each sender's body looks like; Stripe's and Slack's carry the event id their key is taken from.
BODIES: dict[str, Any] = {
    "stripe-payments": {"id": "evt_1Q2w3E", "object": "event", "type": "payment_intent.succeeded"},
    "slack-events": {"type": "event_callback", "event_id": "Ev08MFMKH6", "event": {"type": "app_mention"}},
}


@pytest.fixture
def settings(make_settings):
    return make_settings(InboundSettings, run_worker=False)


def scheme_of(name: str) -> Scheme:
    trigger = service.automations[f"inboundtest.{name}"].trigger
    assert isinstance(trigger, Webhook) and trigger.scheme is not None
    return trigger.scheme


def secret_of(name: str) -> str:
    value: str = getattr(InboundSettings(), SECRETS[name]).get_secret_value()
    return value


def body_for(name: str, **extra: Any) -> bytes:
    return json.dumps({**BODIES.get(name, {"order": 7}), **extra}).encode()


async def post(
    client: httpx.AsyncClient,
    name: str,
    body: bytes,
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    signed = scheme_of(name).sign(secret or secret_of(name), body, timestamp)
    return await client.post(
        f"{PREFIX}/hooks/{name}",
        content=body,
        headers={"content-type": "application/json", **signed, **(headers or {})},
    )


async def replay(client: httpx.AsyncClient, captured: httpx.Request, **changed: str) -> httpx.Response:
    """The captured request again, byte for byte, with some headers changed (as anyone who saw it could)."""
    headers = {**dict(captured.headers), **{name.lower(): value for name, value in changed.items()}}
    return await client.post(str(captured.url), content=captured.content, headers=headers)


def events(database_url: str) -> list[dict[str, Any]]:
    return query(database_url, "SELECT source, dedup_key, payload, headers, duplicates FROM zaps_event ORDER BY id")


# --- Each provider scheme -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SECRETS))
async def test_a_signed_request_is_stored_once_and_its_exact_replay_is_a_duplicate(settings, database_url, name):
    body = body_for(name)
    async with running(service.create_app(settings)) as client:
        first = await post(client, name, body)
        again = await replay(client, first.request)
        # Headers the sender does not sign change nothing (GitHub's delivery id, a made-up idempotency key).
        renamed = await replay(client, first.request, **{"X-GitHub-Delivery": "new-id", "Idempotency-Key": "k2"})

    assert first.status_code == 202, first.text
    assert first.json()["runs"] == 1
    for duplicate in (again, renamed):
        assert duplicate.status_code == 200
        assert duplicate.json() == {"event_id": first.json()["event_id"], "duplicate": True, "runs": 0}
    (event,) = events(database_url)
    assert event["source"] == f"inboundtest.{name}"
    assert event["payload"] == json.loads(body)
    assert event["duplicates"] == 2
    expected_key = {
        "stripe-payments": "stripe:evt_1Q2w3E",
        "slack-events": "slack:Ev08MFMKH6",
    }.get(name, "sha256:" + hashlib.sha256(body).hexdigest())
    assert event["dedup_key"] == expected_key
    # The signature is not kept with the event (the console shows the stored headers).
    signature_headers = {header.lower() for header in scheme_of(name).sign("x", body)}
    assert not signature_headers & set(event["headers"]) - {"x-slack-request-timestamp", "x-vendor-timestamp"}


@pytest.mark.parametrize(
    ("name", "case"),
    [(name, case) for name in SECRETS for case in ("wrong", "missing")] + [(name, "stale") for name in TIMESTAMPED],
)
async def test_a_wrong_missing_or_stale_signature_is_refused_and_stores_nothing(settings, database_url, name, case):
    body = body_for(name)
    async with running(service.create_app(settings)) as client:
        if case == "wrong":
            answer = await post(client, name, body, secret="not-the-secret-0000")
        elif case == "missing":
            answer = await client.post(
                f"{PREFIX}/hooks/{name}", content=body, headers={"content-type": "application/json"}
            )
        else:  # signed right, but 10 minutes ago: a captured request replayed later
            answer = await post(client, name, body, timestamp=int(time.time()) - 600)

    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"
    message = answer.json()["error"]["message"]
    assert {"wrong": "does not match", "missing": "missing", "stale": "tolerance"}[case] in message
    assert secret_of(name) not in answer.text
    assert events(database_url) == []


async def test_stripe_takes_any_of_several_v1_signatures_and_ignores_other_schemes(settings, database_url):
    body = body_for("stripe-payments")
    now = int(time.time())
    good = scheme_of("stripe-payments").sign(secret_of("stripe-payments"), body, now)["Stripe-Signature"]
    good_v1 = good.split("v1=")[1]
    rolled = f"t={now},v1={'0' * 64},v1={good_v1}"  # one signature per active secret while a secret is rolled
    downgraded = f"t={now},v0={good_v1}"  # a right digest under another scheme name: refused
    async with running(service.create_app(settings)) as client:
        url = f"{PREFIX}/hooks/stripe-payments"
        several = await client.post(url, content=body, headers={"Stripe-Signature": rolled})
        v0_only = await client.post(url, content=body, headers={"Stripe-Signature": downgraded})
    assert (several.status_code, v0_only.status_code) == (202, 401)


async def test_stripe_s_retry_of_one_event_signed_anew_is_the_same_event(settings, database_url):
    async with running(service.create_app(settings)) as client:
        first = await post(client, "stripe-payments", body_for("stripe-payments"), timestamp=int(time.time()) - 30)
        # Stripe retries an event later, signed with a new timestamp: its id (inside the signed body) decides.
        retry = await post(client, "stripe-payments", body_for("stripe-payments", attempt=2))
    assert (first.status_code, retry.status_code) == (202, 200)
    assert retry.json()["event_id"] == first.json()["event_id"]


async def test_slack_url_verification_is_answered_with_its_challenge_and_stores_no_event(settings, database_url):
    body = json.dumps({"token": "Jhj5dZrVaK7Zw", "challenge": "3eZbrw1aBm2rZgRNFdxV2595", "type": "url_verification"})
    async with running(service.create_app(settings)) as client:
        answer = await post(client, "slack-events", body.encode())
        unsigned = await client.post(
            f"{PREFIX}/hooks/slack-events", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "3eZbrw1aBm2rZgRNFdxV2595"
    assert unsigned.status_code == 401  # the handshake is signed like everything Slack sends
    assert events(database_url) == []


async def test_a_slack_slash_command_form_is_signed_over_its_raw_body(settings, database_url):
    body = b"command=%2Fweather&text=94070&team_id=T0001&trigger_id=13345224609.738474920.8088930838d88f008e0"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with running(service.create_app(settings)) as client:
        answer = await post(client, "slack-events", body, headers=headers)
    assert answer.status_code == 202
    (event,) = events(database_url)
    assert event["payload"]["command"] == "/weather"
    assert event["dedup_key"] == "sha256:" + hashlib.sha256(body).hexdigest()


async def test_generic_hmac_hex_is_accepted_in_either_case(settings, database_url):
    body = body_for("vendor-body-only")
    signature = scheme_of("vendor-body-only").sign(secret_of("vendor-body-only"), body)["X-Body-Signature"]
    async with running(service.create_app(settings)) as client:
        answer = await client.post(
            f"{PREFIX}/hooks/vendor-body-only", content=body, headers={"X-Body-Signature": signature.upper()}
        )
    assert answer.status_code == 202


# The providers' own published examples: the schemes compute exactly what their documentation shows.
GITHUB_DOCS = (
    "It's a Secret to Everybody",
    b"Hello, World!",
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
)
SLACK_DOCS = (
    "8f742231b10e8888abcd99yyyzzz85a5",
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar"
    b"&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack"
    b".com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0b"
    b"c887a14d10d2c447fce8b6703c",
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
)


def test_github_s_published_example_verifies():
    secret, body, signature = GITHUB_DOCS
    assert scheme_of("github-pushes").sign(secret, body) == {"X-Hub-Signature-256": signature}
    scheme_of("github-pushes").verify(secret, {"x-hub-signature-256": signature}, body)


def test_slack_s_published_example_verifies_at_its_time_and_is_stale_later():
    secret, body, signature = SLACK_DOCS
    headers = {"x-slack-request-timestamp": "1531420618", "x-slack-signature": signature}
    scheme_of("slack-events").verify(secret, headers, body, now=1531420618 + 299)
    with pytest.raises(SignatureError, match="tolerance"):
        scheme_of("slack-events").verify(secret, headers, body, now=1531420618 + 301)


# --- Bodies: any JSON value, forms, text ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[1, 2, 3], "a bare string", 42, None, {"nested": {"list": [True]}}])
async def test_any_json_value_is_stored_as_sent(settings, database_url, value):
    async with running(service.create_app(settings)) as client:
        answer = await post(client, "github-pushes", json.dumps(value).encode())
    assert answer.status_code == 202
    assert events(database_url)[0]["payload"] == value


async def test_a_plain_html_form_posts_to_the_token_url_and_the_browser_is_sent_on(settings, database_url):
    # What a browser sends for <form method="post" action=".../t/<token>"> with a checkbox group and a repeated name.
    body = "name=Ada+Lovelace&email=ada%40example.com&message=Hello%2C+world%21&interests%5B%5D=news&tag=a&tag=b"
    async with running(service.create_app(settings)) as client:
        answer = await client.post(
            f"{PREFIX}/hooks/contact-form/t/{TOKEN}",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded", "origin": "https://example.com"},
        )
        double_click = await client.post(
            f"{PREFIX}/hooks/contact-form/t/{TOKEN}",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == "https://example.com/thanks"
    assert double_click.status_code == 303  # the same answer: the browser moves on either way
    (event,) = events(database_url)
    assert event["payload"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "message": "Hello, world!",
        "interests[]": ["news"],  # a name ending in [] is always a list
        "tag": ["a", "b"],  # a repeated name is a list
    }
    assert event["duplicates"] == 1
    assert TOKEN not in json.dumps(event)


async def test_the_token_in_the_path_must_be_right(settings, database_url):
    async with running(service.create_app(settings)) as client:
        wrong = await client.post(f"{PREFIX}/hooks/contact-form/t/{TOKEN}x", data={"a": "1"})
        empty = await client.post(f"{PREFIX}/hooks/contact-form/t/%20", data={"a": "1"})
        # The token route accepts only the path: a right header does not make a wrong path right.
        header = await client.post(
            f"{PREFIX}/hooks/contact-form/t/nope", data={"a": "1"}, headers={"X-Zaps-Token": TOKEN}
        )
        right = await client.post(f"{PREFIX}/hooks/contact-form/t/{TOKEN}", data={"a": "1"})
        in_header = await client.post(f"{PREFIX}/hooks/contact-form", data={"a": "2"}, headers={"X-Zaps-Token": TOKEN})
        # Automations without path_token have no token route.
        elsewhere = await client.post(f"{PREFIX}/hooks/github-pushes/t/{TOKEN}", data={"a": "1"})
    assert (wrong.status_code, empty.status_code, header.status_code) == (401, 401, 401)
    assert (right.status_code, in_header.status_code, elsewhere.status_code) == (303, 303, 404)
    assert [event["payload"] for event in events(database_url)] == [{"a": "1"}, {"a": "2"}]


async def test_twilio_gets_twiml_back_for_a_new_message_and_for_its_retry(settings, database_url):
    body = "MessageSid=SM1f0e2d3c&From=%2B15551234567&To=%2B15557654321&Body=Hello+there&NumMedia=0"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with running(service.create_app(settings)) as client:
        first = await client.post(f"{PREFIX}/hooks/twilio-sms/t/{TOKEN}", content=body, headers=headers)
        retry = await client.post(f"{PREFIX}/hooks/twilio-sms/t/{TOKEN}", content=body, headers=headers)
    for answer in (first, retry):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/xml")
        assert answer.text == TWIML
    (event,) = events(database_url)
    assert event["payload"]["From"] == "+15551234567"
    assert event["duplicates"] == 1


@pytest.mark.parametrize(
    ("content_type", "body", "stored"),
    [
        ("text/plain; charset=utf-8", "Plain text, é and all".encode(), {"text": "Plain text, é and all"}),
        ("text/csv", b"name,email\nAda,ada@example.com\n", {"text": "name,email\nAda,ada@example.com\n"}),
        ("text/plain; charset=latin-1", "caf\u00e9".encode("latin-1"), {"text": "caf\u00e9"}),
        ("application/octet-stream", b"\x00\xff\x10", {"base64": "AP8Q"}),
        ("text/plain", b"\xff\xfe not utf-8", {"base64": "//4gbm90IHV0Zi04"}),
    ],
)
async def test_other_bodies_are_stored_raw_with_their_content_type(settings, database_url, content_type, body, stored):
    async with running(service.create_app(settings)) as client:
        answer = await client.post(
            f"{PREFIX}/hooks/twilio-sms", content=body, headers={"content-type": content_type, "X-Zaps-Token": TOKEN}
        )
    assert answer.status_code == 200
    assert events(database_url)[0]["payload"] == {"content_type": content_type, **stored}


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b"{oops", "not valid JSON"),
        ("application/x-www-form-urlencoded", b"name=%FF%FE", "not valid utf-8"),
        ("application/x-www-form-urlencoded; charset=klingon", b"a=1", "unknown charset"),
        ("application/x-www-form-urlencoded", b"a=1%00", "cannot be stored"),
        ("application/x-www-form-urlencoded", b"&".join(b"f%d=1" % i for i in range(1001)), "more than 1000"),
    ],
)
async def test_bodies_that_do_not_parse_get_a_422_and_store_nothing(
    settings, database_url, content_type, body, message
):
    async with running(service.create_app(settings)) as client:
        answer = await client.post(
            f"{PREFIX}/hooks/twilio-sms", content=body, headers={"content-type": content_type, "X-Zaps-Token": TOKEN}
        )
    assert answer.status_code == 422
    assert message in answer.json()["error"]["message"]
    assert events(database_url) == []


# --- The token never reaches a log line -----------------------------------------------------------------------------


def test_the_token_in_the_path_never_appears_in_a_log_line(database_url, tmp_path):
    log = tmp_path / "server.log"
    env = {
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(HERE),
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "DEBUG",  # uvicorn's access line (method, path, status) is logged at DEBUG
        "PATH_PREFIX": PREFIX,
        "RUN_WORKER": "false",
    }
    wrong = "a-guess-0f9e8d7c6b5a"
    with server_process("inbound_service:service", env, log_path=log) as server:
        url = f"{server['base_url']}{PREFIX}/hooks/contact-form/t/"
        right = httpx.post(url + TOKEN, data={"name": "Ada"}, follow_redirects=False)
        refused = httpx.post(url + wrong, data={"name": "Eve"}, follow_redirects=False)
        not_stored = httpx.post(
            url + TOKEN, content=b"a=%00", headers={"content-type": "application/x-www-form-urlencoded"}
        )
    assert (right.status_code, refused.status_code, not_stored.status_code) == (303, 401, 422)
    lines = log.read_text().splitlines()
    access = [line for line in lines if "/hooks/contact-form/t/" in line]
    assert len(access) >= 3, "\n".join(lines[-20:])  # the access lines are there, with the token masked
    assert all("/hooks/contact-form/t/[redacted]" in line for line in access)
    for secret in (TOKEN, wrong):
        assert not [line for line in lines if secret in line]
