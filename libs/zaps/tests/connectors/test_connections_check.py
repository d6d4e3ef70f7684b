"""`zaps connections check` against the fakes of Google, HubSpot, Slack and Teams and local SMTP servers: OK for
each, and the reason named for a refused key or token, a missing scope, a wrong spreadsheet id, a host that does not
answer, a write-only URL of the wrong shape; never a secret in what it prints."""

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from zaps.cli import main
from zaps.connections.builtins import check_smtp
from zaps.connections.connectors import Options
from zaps.connections.outcome import Status
from zaps.connections.report import as_json, as_text, check_all, passed
from zaps.connections.users import Users
from zaps.connectors.hubspot import HubSpotSettings
from zaps.connectors.sheets import GoogleSheetsSettings
from zaps.connectors.slack import SlackBotSettings
from zaps.connectors.teams import TeamsSettings
from zaps.settings import ZapsSettings
from zaps.testing.apps import free_port
from zaps.testing.hubspot_fake import ALL_SCOPES, READ_SCOPE, HubSpotFake
from zaps.testing.hubspot_fake import TOKEN as HUBSPOT_TOKEN
from zaps.testing.sheets_fake import ServiceAccount
from zaps.testing.slack_fake import SlackFake
from zaps.testing.teams_fake import TeamsWorkflowsFake

HERE = Path(__file__).parent
SLACK_TOKEN = "xoxb-1111-2222-secretbottoken"
SLACK_HOOK = "https://hooks.slack.com/services/T0AAA1111/B0BBB2222/hooksecret1234567890"
SMTP_USER, SMTP_PASSWORD = "mailer@example.test", "smtp-password-do-not-print"
SHEET_ID = "1sheet-to-check-0123456789abcdefghijklmnop"
SETTINGS_CLASSES = (GoogleSheetsSettings, HubSpotSettings, SlackBotSettings, TeamsSettings)
ACTION_VARIABLES = ("slack_webhook_url", "alert_slack_webhook_url", "alert_webhook_url", "alert_email_to")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """Nothing from the developer's shell or .env: each test configures exactly what it checks."""
    monkeypatch.chdir(tmp_path)
    names = [name for cls in SETTINGS_CLASSES for name in cls.model_fields]
    names += [name for name in ZapsSettings.model_fields if name.startswith("smtp_")] + list(ACTION_VARIABLES)
    for name in names:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("ENVIRONMENT", "test")


@pytest.fixture
def hubspot():
    with HubSpotFake() as fake:
        yield fake


@pytest.fixture
def slack():
    with SlackFake(token=SLACK_TOKEN) as fake:
        yield fake


@pytest.fixture
def teams():
    with TeamsWorkflowsFake() as fake:
        yield fake


@pytest.fixture
def sheet(google, account):
    """The `account` fixture's key in GOOGLE_SERVICE_ACCOUNT_JSON, and a spreadsheet shared with it to check."""
    google.spreadsheet(SHEET_ID, {"Calls": [["Call id"]], "Notes": []}, shared_with=[account.client_email], title="Log")
    return SHEET_ID


@pytest.fixture
def silent_host() -> Iterator[str]:
    """A host that takes the connection and never says a word (a dead service behind a live port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # never accepted: the kernel completes the handshake, nothing ever answers
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def configure(monkeypatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name.upper(), value)


def configure_all(monkeypatch, hubspot, slack, teams, outbox) -> None:
    configure(
        monkeypatch,
        hubspot_token=HUBSPOT_TOKEN,
        hubspot_api_url=hubspot.url,
        slack_bot_token=SLACK_TOKEN,
        slack_api_url=slack.url,
        slack_default_channel="C0GENERAL1",
        teams_workflow_url=teams.url(),
        slack_webhook_url=SLACK_HOOK,
        smtp_host="127.0.0.1",
        smtp_port=str(outbox.port),
        smtp_from="zaps@example.test",
        smtp_starttls="false",
    )


async def check(users: Users | None = None, **options: Any) -> tuple[dict[str, Any], str, bool]:
    """Each connection's outcome by name, the text report and whether the command would pass."""
    users = users or Users()
    outcomes = await check_all(Options(**{"timeout_s": 5.0, **options}), users)
    text = as_text(outcomes, users)
    assert json.loads(as_json(outcomes, users))["ok"] is passed(outcomes, users)
    return {outcome.name: outcome for outcome in outcomes}, text, passed(outcomes, users)


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


async def test_every_configured_connection_is_ok_against_the_fakes(
    monkeypatch, hubspot, slack, teams, outbox, sheet, account
):
    configure_all(monkeypatch, hubspot, slack, teams, outbox)
    found, text, ok = await check(spreadsheet_ids=(sheet,))
    assert ok, text
    assert found["Google Sheets"].status is Status.OK
    assert f"token for the key of {account.client_email}" in found["Google Sheets"].detail
    assert f"spreadsheet {sheet} ('Log', tabs: Calls, Notes) is readable" in found["Google Sheets"].detail
    assert found["HubSpot"].status is Status.OK
    assert found["Slack app"].status is Status.OK and "channel C0GENERAL1 is readable" in found["Slack app"].detail
    for write_only in ("Microsoft Teams", "Slack incoming webhook"):
        assert found[write_only].status is Status.SHAPE_OK
        assert "shape only: a write-only URL cannot be checked without posting" in found[write_only].detail
    assert found["Email (SMTP)"].status is Status.OK and "no mail sent" in found["Email (SMTP)"].detail
    assert outbox.messages == [] and teams.requests == [] and slack.calls_to("chat.postMessage") == []
    assert found["Slack alerts webhook"].status is Status.NOT_CONFIGURED
    assert "All 6 configured connection(s) OK." in text
    key = json.loads(account.key_json())["private_key"]
    assert_no_secret(text, HUBSPOT_TOKEN, SLACK_TOKEN, teams.signature, "hooksecret1234567890", key[40:90])


async def test_the_spreadsheet_id_setting_is_read_and_a_wrong_one_is_named(monkeypatch, google, sheet):
    configure(monkeypatch, google_sheets_check_spreadsheet_id=sheet)
    found, _, ok = await check()
    assert ok and f"spreadsheet {sheet}" in found["Google Sheets"].detail
    found, _, ok = await check(spreadsheet_ids=("1no-such-spreadsheet",))
    assert not ok
    assert "no spreadsheet 1no-such-spreadsheet; check the id" in found["Google Sheets"].detail
    google.spreadsheet("1not-shared", {"Calls": []}, shared_with=[])
    found, _, ok = await check(spreadsheet_ids=("1not-shared",))
    assert not ok and "share spreadsheet 1not-shared with the service account" in found["Google Sheets"].detail


async def test_a_key_google_does_not_know_is_refused(monkeypatch, google):
    unknown = ServiceAccount.make(google.token_uri, "deleted@zaps-test.iam.gserviceaccount.com")  # not registered
    configure(monkeypatch, google_service_account_json=unknown.key_json(), google_sheets_api_url=google.url)
    found, text, ok = await check()
    assert not ok and found["Google Sheets"].status is Status.FAILED
    assert "Google refused the service account key of deleted@zaps-test" in found["Google Sheets"].detail
    assert_no_secret(text, unknown.private_key_pem.splitlines()[3])


async def test_refused_tokens_are_named(monkeypatch, hubspot, slack):
    wrong_hubspot, wrong_slack = "pat-na1-00000000-wrong-token", "xoxb-9999-wrong-token"
    configure(
        monkeypatch,
        hubspot_token=wrong_hubspot,
        hubspot_api_url=hubspot.url,
        slack_bot_token=wrong_slack,
        slack_api_url=slack.url,
    )
    found, text, ok = await check()
    assert not ok
    assert "HubSpot refused the token" in found["HubSpot"].detail and "HUBSPOT_TOKEN" in found["HubSpot"].detail
    assert "SLACK_BOT_TOKEN" in found["Slack app"].detail and "[invalid_auth]" in found["Slack app"].detail
    slack.revoked.add(SLACK_TOKEN)
    configure(monkeypatch, slack_bot_token=SLACK_TOKEN)
    found, _, _ = await check()
    assert "was revoked" in found["Slack app"].detail
    assert_no_secret(text, wrong_hubspot, wrong_slack)


async def test_a_missing_scope_is_named(monkeypatch):
    with (
        HubSpotFake(scopes=ALL_SCOPES - {READ_SCOPE}) as hubspot,
        SlackFake(token=SLACK_TOKEN, scopes=("chat:write", "channels:read")) as slack,
    ):
        configure(
            monkeypatch,
            hubspot_token=HUBSPOT_TOKEN,
            hubspot_api_url=hubspot.url,
            slack_bot_token=SLACK_TOKEN,
            slack_api_url=slack.url,
        )
        found, _, ok = await check(slack_channel="general")  # by name: resolved with channels:read
    assert not ok
    assert "lacks the scope(s) crm.objects.contacts.read" in found["HubSpot"].detail
    assert "lacks the channels:history scope" in found["Slack app"].detail


async def test_a_channel_the_bot_cannot_read_is_named(monkeypatch, slack):
    slack.add_channel("C0OUTSIDE1", "outside", member=False)
    configure(monkeypatch, slack_bot_token=SLACK_TOKEN, slack_api_url=slack.url, slack_default_channel="C0MISSING1")
    found, _, _ = await check()
    assert "channel C0MISSING1 was not found" in found["Slack app"].detail
    found, _, _ = await check(slack_channel="C0OUTSIDE1")
    assert "does not have the bot as a member" in found["Slack app"].detail


async def test_a_host_that_does_not_answer_times_out_with_a_clear_reason(monkeypatch, silent_host, google):
    key = google.service_account().key_json()
    configure(
        monkeypatch,
        google_service_account_json=key,
        google_token_uri=f"http://{silent_host}/token",
        hubspot_token=HUBSPOT_TOKEN,
        hubspot_api_url=f"http://{silent_host}",
        slack_bot_token=SLACK_TOKEN,
        slack_api_url=f"http://{silent_host}/api",
        smtp_host="127.0.0.1",
        smtp_port=silent_host.rpartition(":")[2],
        smtp_from="zaps@example.test",
    )
    started = time.monotonic()
    found, text, ok = await check(timeout_s=0.5)
    assert time.monotonic() - started < 5  # the checks run at once, each within its limit
    assert not ok
    for name in ("Google Sheets", "HubSpot", "Slack app", "Email (SMTP)"):
        assert found[name].status is Status.FAILED
        assert "no answer within 0.5 s" in found[name].detail, found[name].detail
    assert_no_secret(text, HUBSPOT_TOKEN, SLACK_TOKEN)


async def test_a_closed_port_is_said_to_be_unreachable(monkeypatch):
    port = free_port()
    configure(monkeypatch, hubspot_token=HUBSPOT_TOKEN, hubspot_api_url=f"http://127.0.0.1:{port}")
    configure(monkeypatch, smtp_host="127.0.0.1", smtp_port=str(port), smtp_from="zaps@example.test")
    found, _, _ = await check()
    assert "HubSpot unreachable" in found["HubSpot"].detail
    assert f"127.0.0.1:{port}: cannot connect" in found["Email (SMTP)"].detail


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456", "Office 365 connector"),
        ("https://prod-01.westus.logic.azure.com/workflows/abc123/triggers/manual/paths/invoke?sv=1.0", "no signature"),
        ("https://example.com/hooks/teams?sig=abc", "not a workflow trigger's URL"),
        ("http://prod-01.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t", "not https"),
    ],
)
async def test_a_teams_url_of_the_wrong_shape_is_refused_without_quoting_it(monkeypatch, url, reason):
    configure(monkeypatch, teams_workflow_url=url)
    found, text, ok = await check()
    assert not ok and found["Microsoft Teams"].status is Status.FAILED
    assert reason in found["Microsoft Teams"].detail.replace("http://, not https://", "not https")
    assert_no_secret(text, url, "s3cr3t", "abc@def")


async def test_a_real_teams_url_shape_passes(monkeypatch):
    url = (
        "https://default0f1e.03.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/"
        "0a1b2c3d4e5f/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC-xyz"
    )
    configure(monkeypatch, teams_workflow_url=url)
    found, text, ok = await check()
    assert ok and found["Microsoft Teams"].status is Status.SHAPE_OK
    assert_no_secret(text, "AbC-xyz")


async def test_a_slack_webhook_of_the_wrong_shape_is_named(monkeypatch):
    configure(monkeypatch, slack_webhook_url="https://hooks.example.com/services/T1/B1/x")
    configure(monkeypatch, alert_slack_webhook_url="https://hooks.slack.com/workflows/abc")
    found, _, ok = await check()
    assert not ok
    assert "SLACK_WEBHOOK_URL is not on hooks.slack.com" in found["Slack incoming webhook"].detail
    assert "ALERT_SLACK_WEBHOOK_URL is not shaped like" in found["Slack alerts webhook"].detail


async def test_nothing_configured_is_not_an_error(monkeypatch):
    found, text, ok = await check()
    assert ok, text
    assert {outcome.status for outcome in found.values()} == {Status.NOT_CONFIGURED}
    assert found["HubSpot"].detail == "HUBSPOT_TOKEN not set"


async def test_a_connector_an_automation_uses_is_an_error_when_not_configured():
    users = Users(by_connector={"HubSpot": ["crm.missed-call"]}, services=["crm"])
    found, text, ok = await check(users)
    assert not ok
    assert found["HubSpot"].status is Status.FAILED
    assert found["HubSpot"].detail == "not configured, but automations use it: HUBSPOT_TOKEN not set"
    assert "used by crm.missed-call" in text


async def test_invalid_settings_are_named_never_quoted(monkeypatch):
    configure(monkeypatch, google_service_account_json="not-json-but-a-secret", slack_bot_token="xoxp-user-token")
    found, text, ok = await check()
    assert not ok
    assert "GOOGLE_SERVICE_ACCOUNT_JSON is invalid" in found["Google Sheets"].detail
    assert "SLACK_BOT_TOKEN is invalid" in found["Slack app"].detail
    assert_no_secret(text, "not-json-but-a-secret", "xoxp-user-token")


# --- SMTP with STARTTLS and a login ---------------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's handler hook
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_server() -> Iterator[tuple[int, ssl.SSLContext, Mailbox]]:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        ready_timeout=5,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=mailbox.authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield controller.port, client_tls, mailbox
    finally:
        controller.stop()


def smtp_settings(port: int, **overrides: Any) -> ZapsSettings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_username": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "smtp_from": "zaps@example.test",
        "smtp_starttls": True,
        "_env_file": None,
    }
    return ZapsSettings(**{**values, **overrides})


async def test_smtp_starttls_and_login_are_checked_and_no_mail_is_sent(tls_server):
    port, client_tls, mailbox = tls_server
    outcome = await check_smtp(smtp_settings(port), 5.0, tls=client_tls)
    assert outcome.status is Status.OK
    assert outcome.detail == f"127.0.0.1:{port}: connected, EHLO, STARTTLS, login accepted, QUIT; no mail sent"
    assert mailbox.messages == []


async def test_smtp_refused_password_and_untrusted_certificate_are_named(tls_server):
    port, client_tls, _ = tls_server
    refused = await check_smtp(smtp_settings(port, smtp_password="wrong-password-42"), 5.0, tls=client_tls)
    assert refused.status is Status.FAILED
    assert "refused SMTP_USERNAME/SMTP_PASSWORD (535)" in refused.detail
    assert "wrong-password-42" not in refused.detail
    untrusted = await check_smtp(smtp_settings(port), 5.0)  # the system's CAs do not know the test CA
    assert "STARTTLS failed (CERTIFICATE_VERIFY_FAILED)" in untrusted.detail


async def test_alerts_by_email_need_an_smtp_server(monkeypatch):
    configure(monkeypatch, alert_email_to="owner@example.test")
    found, _, ok = await check()
    assert not ok
    assert found["Email (SMTP)"].detail == "not configured, but ALERT_EMAIL_TO mails alerts: SMTP_HOST not set"


async def test_smtp_without_starttls_offered_is_named(outbox):
    outcome = await check_smtp(smtp_settings(outbox.port, smtp_username=None, smtp_password=None), 5.0)
    assert "does not offer STARTTLS" in outcome.detail


# --- The command ----------------------------------------------------------------------------------------------------


def test_the_command_finds_the_automations_that_use_a_connector_and_exits_1(monkeypatch, hubspot, slack):
    """Through a subprocess, as the owner runs it: the test service's automation uses the Slack app, which is not
    configured; HubSpot is, and is OK."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "HUBSPOT_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
    }
    command = [sys.executable, "-m", "zaps.cli", "connections", "check", "--service", "slack_bot_service:service"]
    done = subprocess.run([*command, "--json"], env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    found = {c["name"]: c for c in report["connections"]}
    assert report["ok"] is False and report["services"] == ["slack_bot_service:service"]
    assert report["problems"] == []  # the service's refusal to start is the Slack app's line, not a problem
    assert found["Slack app"]["status"] == "failed" and found["Slack app"]["used_by"] == ["slackbottest.announce"]
    assert "SLACK_BOT_TOKEN not set" in found["Slack app"]["detail"]
    assert found["HubSpot"]["status"] == "ok"
    assert HUBSPOT_TOKEN not in done.stdout + done.stderr

    environment |= {"SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_API_URL": slack.url}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK             Slack app" in done.stdout and "used by slackbottest.announce" in done.stdout
    assert SLACK_TOKEN not in done.stdout + done.stderr and HUBSPOT_TOKEN not in done.stdout + done.stderr


def test_an_unknown_service_is_a_problem(capsys):
    assert main(["connections", "check", "--service", "no-such-service"]) == 1
    assert "unknown service 'no-such-service'" in capsys.readouterr().out


def test_a_bad_timeout_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["connections", "check", "--timeout", "0"])
    assert stopped.value.code == 2


def test_a_service_that_cannot_start_for_another_reason_is_a_problem():
    from zaps import Service
    from zaps.connections.users import _declare

    class BrokenSettings(ZapsSettings):
        service_name: str = "brokentest"

    broken = Service(BrokenSettings, automations=["no_such_module_for_zaps_tests"])
    problem = _declare(broken)
    assert problem is not None and "no_such_module_for_zaps_tests" in problem
