"""The actions against real local servers on 127.0.0.1 (no mocks): an HTTP sink for webhooks and Slack, and an SMTP
server that requires STARTTLS and AUTH for email. Each failure comes out as the engine's typed error, and no secret
leaks into what a log would print of it."""

from __future__ import annotations

import hashlib
import json
import ssl
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from zaps import signing
from zaps.actions.email import SmtpEmail
from zaps.actions.fakes import FakeEmail, FakeSlack, FakeWebhook, fake_actions
from zaps.actions.http import HttpWebhook, SlackWebhook
from zaps.retry import PermanentError, RetryableError, UnsureError
from zaps.testing.apps import free_port
from zaps.testing.sink import Reply, Sink

WEBHOOK_SECRET = "whsec-outbound-7f3a9c1e"
SMTP_USER = "zaps-mailer"
SMTP_PASSWORD = "smtp-pass-4d8b2e6a"
WRONG_PASSWORD = "not-the-password-91c0"


def printed(error: BaseException) -> str:
    """What a log line with the traceback would show of this error: its message and every chained cause shown."""
    return "".join(traceback.format_exception(error))


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    shown = printed(error)
    for secret in secrets:
        assert secret not in str(error)
        assert secret not in shown


@pytest.fixture(scope="module")
def shared_sink() -> Iterator[Sink]:
    # One server for the module: stopping a Sink waits out its 0.5 s poll interval.
    with Sink() as server:
        yield server


@pytest.fixture
def sink(shared_sink: Sink) -> Iterator[Sink]:
    shared_sink.requests.clear()
    yield shared_sink
    with shared_sink._lock:  # a failed test's unused replies must not answer the next test
        shared_sink._script.clear()


@pytest.fixture
async def webhook():
    action = HttpWebhook(timeout_s=2.0, default_secret=WEBHOOK_SECRET)
    yield action
    await action.aclose()


# --- HTTP webhook ---------------------------------------------------------------------------------------------------


async def test_webhook_posts_signed_json_with_the_idempotency_key(webhook, sink):
    sink.script(Reply(200, body=b'{"accepted": 1}'))
    result = await webhook.send(
        url=sink.url + "/orders", payload={"order": 42, "total": 12.5, "tags": ["a"]}, idempotency_key="auto/7/deliver"
    )

    assert result == {"status": 200, "body": {"accepted": 1}}
    (received,) = sink.to("/orders")
    assert received.headers["content-type"] == "application/json"
    assert received.json == {"order": 42, "total": 12.5, "tags": ["a"]}
    assert received.headers["idempotency-key"] == "auto/7/deliver"
    # The receiver can check the signature, which covers the key, with the shared secret; another secret, another
    # body or another key fails.
    timestamp, signature = received.headers["x-zaps-timestamp"], received.headers["x-zaps-signature"]
    key = received.headers["idempotency-key"]
    assert signing.verify(WEBHOOK_SECRET, received.body, timestamp, signature, idempotency_key=key) == key
    for secret, body, offered_key in [
        ("another-secret", received.body, key),
        (WEBHOOK_SECRET, received.body + b" ", key),
        (WEBHOOK_SECRET, received.body, "auto/7/deliver-again"),
        (WEBHOOK_SECRET, received.body, None),
    ]:
        with pytest.raises(signing.SignatureError):
            signing.verify(secret, body, timestamp, signature, idempotency_key=offered_key)


async def test_webhook_secret_per_call_overrides_the_default_and_no_secret_means_unsigned(sink):
    unsigned = HttpWebhook(timeout_s=2.0)
    try:
        await unsigned.send(url=sink.url + "/plain", payload={"a": 1}, idempotency_key="k1")
        await unsigned.send(url=sink.url + "/signed", payload={"a": 2}, idempotency_key="k2", secret="per-call-secret")
    finally:
        await unsigned.aclose()
    (plain,) = sink.to("/plain")
    assert "x-zaps-signature" not in plain.headers
    (signed,) = sink.to("/signed")
    assert plain.headers["idempotency-key"] == "k1"
    signing.verify(
        "per-call-secret",
        signed.body,
        signed.headers["x-zaps-timestamp"],
        signed.headers["x-zaps-signature"],
        idempotency_key=signed.headers["idempotency-key"],
    )


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_webhook_server_errors_and_429_are_retryable(webhook, sink, status):
    sink.script(status)
    with pytest.raises(RetryableError) as caught:
        await webhook.send(url=sink.url + "/x", payload={"n": 1}, idempotency_key="k")
    assert str(status) in str(caught.value)
    assert caught.value.retry_after is None
    assert_no_secret(caught.value, WEBHOOK_SECRET)


async def test_webhook_429_retry_after_is_read(webhook, sink):
    sink.script(Reply(429, headers={"Retry-After": "7"}), Reply(503, headers={"Retry-After": "0.5"}))
    with pytest.raises(RetryableError) as first:
        await webhook.send(url=sink.url + "/x", payload={}, idempotency_key="k")
    with pytest.raises(RetryableError) as second:
        await webhook.send(url=sink.url + "/x", payload={}, idempotency_key="k")
    assert first.value.retry_after == 7.0
    assert second.value.retry_after == 0.5


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_webhook_client_errors_are_permanent(webhook, sink, status):
    sink.script(status)
    with pytest.raises(PermanentError) as caught:
        await webhook.send(url=sink.url + "/x", payload={"n": 1}, idempotency_key="k")
    assert str(status) in str(caught.value)
    assert not isinstance(caught.value, RetryableError)
    assert_no_secret(caught.value, WEBHOOK_SECRET)
    assert len(sink.requests) == 1  # one attempt: the action itself never retries


async def test_webhook_target_that_never_answers_after_the_request_is_unsure(sink):
    action = HttpWebhook(timeout_s=0.3, default_secret=WEBHOOK_SECRET)
    sink.script(Reply(200, delay_s=1.5))  # accepts the connection and reads the request, then says nothing
    started = time.monotonic()
    try:
        with pytest.raises(UnsureError) as caught:  # it may have arrived: the step's on_unsure rule decides
            await action.send(url=sink.url + "/slow", payload={"n": 1}, idempotency_key="k")
    finally:
        await action.aclose()
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.2, elapsed
    assert "Timeout" in str(caught.value)
    assert len(sink.to("/slow")) == 1  # it did connect and send
    assert_no_secret(caught.value, WEBHOOK_SECRET)


async def test_webhook_connection_refused_is_not_done_and_retryable(webhook):
    closed = free_port()  # bound and released: nothing listens there
    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        await webhook.send(url=f"http://127.0.0.1:{closed}/x", payload={}, idempotency_key="k")
    assert not isinstance(caught.value, UnsureError)  # nothing left: another try may send
    assert time.monotonic() - started < 2
    assert "unreachable" in str(caught.value)
    assert_no_secret(caught.value, WEBHOOK_SECRET)


async def test_the_sink_answers_whether_a_delivery_with_a_key_reached_it():
    """What a `check` step's verify asks a receiver (the fault suite's service does): 200 with the delivery the key
    brought, 404 if none arrived, and a delivery it refused (5xx) does not count as arrived."""
    with Sink() as target:
        target.script(Reply(503), path="/orders")
        async with httpx.AsyncClient() as client:
            await client.post(target.url + "/orders", json={"order": 1}, headers={"idempotency-key": "a/1/deliver"})
            refused = await client.get(target.url + "/_received", params={"key": "a/1/deliver"})
            await client.post(target.url + "/orders", json={"order": 1}, headers={"idempotency-key": "a/1/deliver"})
            found = await client.get(target.url + "/_received", params={"key": "a/1/deliver"})
            missing = await client.get(target.url + "/_received", params={"key": "a/2/deliver"})
    assert refused.status_code == 404
    assert found.status_code == 200
    assert found.json()["received"]["path"] == "/orders"
    assert found.json()["received"]["status"] == 200
    assert json.loads(found.json()["received"]["body"]) == {"order": 1}
    assert missing.status_code == 404
    assert target.lookups == ["a/1/deliver", "a/1/deliver", "a/2/deliver"]
    assert len(target.to("/orders")) == 2  # a lookup is not a delivery


# --- Slack ----------------------------------------------------------------------------------------------------------


async def test_slack_posts_text_to_the_incoming_webhook(sink):
    sink.script(Reply(200, body=b"ok"))
    slack = SlackWebhook(default_url=sink.url + "/services/T000/B000/XXXX", timeout_s=2.0)
    try:
        result = await slack.send(text="Run 12 is *dead*", idempotency_key="auto/12/slack")
        override = await slack.send(text="other channel", idempotency_key="k2", webhook_url=sink.url + "/other")
    finally:
        await slack.aclose()
    assert result == {"status": 200, "body": "ok"}
    assert override["status"] == 200
    (posted,) = sink.to("/services/T000/B000/XXXX")
    assert posted.json == {"text": "Run 12 is *dead*"}
    assert posted.headers["content-type"] == "application/json"
    assert posted.headers["idempotency-key"] == "auto/12/slack"
    assert sink.to("/other")[0].json == {"text": "other channel"}


async def test_slack_without_a_url_is_permanent():
    slack = SlackWebhook(default_url=None, timeout_s=2.0)
    try:
        with pytest.raises(PermanentError, match="no Slack webhook URL"):
            await slack.send(text="hello", idempotency_key="k")
    finally:
        await slack.aclose()


@pytest.mark.parametrize(("status", "error"), [(500, RetryableError), (429, RetryableError), (404, PermanentError)])
async def test_slack_failures_are_typed_and_never_show_the_url(sink, status, error):
    # A Slack incoming-webhook URL is itself a credential (SLACK_WEBHOOK_URL is a secret setting).
    secret_path = "/services/T123/B456/secrettokenvalue99"
    sink.script(status)
    slack = SlackWebhook(default_url=sink.url + secret_path, timeout_s=2.0)
    try:
        with pytest.raises(error) as caught:
            await slack.send(text="hi", idempotency_key="k")
    finally:
        await slack.aclose()
    assert_no_secret(caught.value, "secrettokenvalue99")


async def test_slack_unreachable_is_retryable_and_never_shows_the_url():
    url = f"http://127.0.0.1:{free_port()}/services/T1/B1/hiddentoken42"
    slack = SlackWebhook(default_url=url, timeout_s=2.0)
    try:
        with pytest.raises(RetryableError) as caught:
            await slack.send(text="hi", idempotency_key="k")
    finally:
        await slack.aclose()
    assert_no_secret(caught.value, "hiddentoken42")


# --- Email over SMTP with STARTTLS and AUTH -------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the local SMTP server accepted: the envelope and the parsed message, plus who logged in."""

    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    logins: list[tuple[str, bool, bool]] = field(default_factory=list)  # (user, succeeded, over TLS)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd handler hook
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = user == SMTP_USER and password == SMTP_PASSWORD
        self.logins.append((user, ok, session.ssl is not None))
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    client_tls: ssl.SSLContext

    def email(self, **overrides: Any) -> SmtpEmail:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
            "sender": "zaps@example.test",
            "starttls": True,
            "timeout_s": 5.0,
            "tls_context": self.client_tls,
        }
        values.update(overrides)
        return SmtpEmail(**values)


@pytest.fixture(scope="module")
def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA: the server's certificate for 127.0.0.1, and a client context that trusts only that CA."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


@pytest.fixture
def smtp_server(tls_pair) -> Iterator[SmtpServer]:
    server_tls, client_tls = tls_pair
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        ready_timeout=5,
        tls_context=server_tls,
        require_starttls=True,  # nothing but EHLO, STARTTLS, NOOP, QUIT before TLS
        authenticator=mailbox.authenticate,
        auth_required=True,
        auth_require_tls=True,
        timeout=10,
    )
    controller.start()
    try:
        yield SmtpServer(port=controller.port, mailbox=mailbox, client_tls=client_tls)
    finally:
        controller.stop()


async def test_email_goes_through_starttls_and_auth_with_a_stable_message_id(smtp_server):
    email = smtp_server.email()
    first = await email.send(
        to=["ops@example.test", "boss@example.test"],
        subject="Run 12 is dead",
        body="The automation orders.forward gave up after 5 attempts.",
        idempotency_key="orders.forward/12/alert",
    )
    again = await email.send(
        to=["ops@example.test", "boss@example.test"],
        subject="Run 12 is dead",
        body="The automation orders.forward gave up after 5 attempts.",
        idempotency_key="orders.forward/12/alert",
    )
    other = await email.send(
        to=["ops@example.test"], subject="Another", body="x", idempotency_key="orders.forward/13/alert"
    )

    assert len(smtp_server.mailbox.messages) == 3
    sender, recipients, message = smtp_server.mailbox.messages[0]
    assert sender == "zaps@example.test"
    assert recipients == ["ops@example.test", "boss@example.test"]
    assert message["Subject"] == "Run 12 is dead"
    assert message["To"] == "ops@example.test, boss@example.test"
    assert message["From"] == "zaps@example.test"
    assert message.get_payload(decode=True).decode().strip() == (
        "The automation orders.forward gave up after 5 attempts."
    )
    # The Message-ID comes from the idempotency key: a resend is the same message, another key another one.
    ids = [received["Message-ID"] for _, _, received in smtp_server.mailbox.messages]
    assert ids[0] == ids[1] == first["message_id"] == again["message_id"]
    assert ids[2] == other["message_id"] != ids[0]
    digest = hashlib.sha256(b"orders.forward/12/alert").hexdigest()[:32]
    assert ids[0] == f"<{digest}@zaps>"
    assert first["to"] == ["ops@example.test", "boss@example.test"]
    # Every login happened over TLS, with the right credentials.
    assert smtp_server.mailbox.logins == [(SMTP_USER, True, True)] * 3


async def test_email_wrong_password_is_permanent_and_never_shows_a_password(smtp_server):
    email = smtp_server.email(password=WRONG_PASSWORD)
    with pytest.raises(PermanentError) as caught:
        await email.send(to=["ops@example.test"], subject="s", body="b", idempotency_key="k")
    assert smtp_server.mailbox.messages == []
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN); every try failed, and all were over TLS.
    assert smtp_server.mailbox.logins
    assert all(login == (SMTP_USER, False, True) for login in smtp_server.mailbox.logins)
    assert_no_secret(caught.value, WRONG_PASSWORD, SMTP_PASSWORD)


async def test_email_without_starttls_is_refused_by_a_server_that_requires_it(smtp_server):
    email = smtp_server.email(starttls=False)
    with pytest.raises((PermanentError, RetryableError)) as caught:
        await email.send(to=["ops@example.test"], subject="s", body="b", idempotency_key="k")
    assert smtp_server.mailbox.messages == []
    assert smtp_server.mailbox.logins == []  # the password never went over plain text
    assert_no_secret(caught.value, SMTP_PASSWORD)


async def test_email_to_an_untrusted_certificate_is_not_sent(smtp_server):
    email = smtp_server.email(tls_context=ssl.create_default_context())  # the system CAs do not know our test CA
    with pytest.raises(RetryableError) as caught:
        await email.send(to=["ops@example.test"], subject="s", body="b", idempotency_key="k")
    assert smtp_server.mailbox.messages == []
    assert smtp_server.mailbox.logins == []
    assert_no_secret(caught.value, SMTP_PASSWORD)


async def test_email_server_not_listening_is_retryable(tls_pair):
    email = SmtpEmail(
        host="127.0.0.1",
        port=free_port(),
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        sender="zaps@example.test",
        timeout_s=2.0,
        tls_context=tls_pair[1],
    )
    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        await email.send(to=["ops@example.test"], subject="s", body="b", idempotency_key="k")
    assert time.monotonic() - started < 2
    assert "unreachable" in str(caught.value)
    assert_no_secret(caught.value, SMTP_PASSWORD)


async def test_email_without_a_server_configured_is_permanent():
    with pytest.raises(PermanentError, match="no SMTP server configured"):
        await SmtpEmail(host=None, sender="zaps@example.test").send(
            to=["a@example.test"], subject="s", body="b", idempotency_key="k"
        )


# --- Fakes ----------------------------------------------------------------------------------------------------------


async def test_fakes_record_every_call_and_send_nothing():
    actions = fake_actions()
    assert isinstance(actions.webhook, FakeWebhook)
    assert isinstance(actions.slack, FakeSlack)
    assert isinstance(actions.email, FakeEmail)

    first = await actions.webhook.send(
        url="http://127.0.0.1:9/x", payload={"a": 1}, idempotency_key="w1", secret=WEBHOOK_SECRET
    )
    second = await actions.webhook.send(url="http://127.0.0.1:9/y", payload=[1, 2], idempotency_key="w2")
    await actions.slack.send(text="hello", idempotency_key="s1")
    await actions.email.send(to=["a@example.test"], subject="subj", body="body", idempotency_key="e1")
    await actions.aclose()  # fakes have nothing to close; the bundle copes

    assert (first, second) == ({"recorded": True, "call": 1}, {"recorded": True, "call": 2})
    assert actions.webhook.calls == [
        {"url": "http://127.0.0.1:9/x", "payload": {"a": 1}, "idempotency_key": "w1"},
        {"url": "http://127.0.0.1:9/y", "payload": [1, 2], "idempotency_key": "w2"},
    ]
    assert WEBHOOK_SECRET not in repr(actions.webhook.calls)  # a recorded call never keeps the signing secret
    assert actions.slack.calls == [{"text": "hello", "idempotency_key": "s1", "webhook_url": None}]
    assert actions.email.calls == [
        {"to": ["a@example.test"], "subject": "subj", "body": "body", "idempotency_key": "e1"}
    ]
