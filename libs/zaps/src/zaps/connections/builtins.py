"""The built-in actions' connections, configured in ZapsSettings: the Slack incoming webhooks and the alerts
webhook (write-only: shape only), and the SMTP server (connect, EHLO, STARTTLS, login, QUIT: no mail is sent)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from collections.abc import Callable

from zaps.connections.outcome import Outcome, Status
from zaps.connections.shapes import SHAPE_ONLY, slack_incoming_webhook_problem, webhook_target_problem
from zaps.settings import ZapsSettings

SMTP = "Email (SMTP)"


def write_only_urls(settings: ZapsSettings) -> list[Outcome]:
    """The URLs only posted to. `run.webhook` takes its URL per step, so the one configured webhook target is
    ALERT_WEBHOOK_URL."""
    found = []
    slack_hooks = [("Slack incoming webhook", "SLACK_WEBHOOK_URL", settings.slack_webhook_url)]
    slack_hooks.append(("Slack alerts webhook", "ALERT_SLACK_WEBHOOK_URL", settings.alert_slack_webhook_url))
    for name, variable, secret in slack_hooks:
        problem = slack_incoming_webhook_problem(secret.get_secret_value()) if secret else None
        found.append(_shape(name, variable, secret is not None, problem))
    alert = settings.alert_webhook_url
    found.append(_shape("Alerts webhook", "ALERT_WEBHOOK_URL", bool(alert), webhook_target_problem(alert or "")))
    return found


def _shape(name: str, variable: str, configured: bool, problem: str | None) -> Outcome:
    if not configured:
        return Outcome(name, Status.NOT_CONFIGURED, f"{variable} not set")
    if problem:
        return Outcome(name, Status.FAILED, f"{variable} {problem}")
    return Outcome(name, Status.SHAPE_OK, f"{variable}: {SHAPE_ONLY}")


async def check_smtp(settings: ZapsSettings, limit_s: float, tls: ssl.SSLContext | None = None) -> Outcome:
    if not settings.smtp_host:
        if settings.alert_email_to:  # alerts go by mail: without a server, a dead run's alert would be lost
            return Outcome(SMTP, Status.FAILED, "not configured, but ALERT_EMAIL_TO mails alerts: SMTP_HOST not set")
        return Outcome(SMTP, Status.NOT_CONFIGURED, "SMTP_HOST not set")
    if not settings.smtp_from:
        return Outcome(SMTP, Status.FAILED, "SMTP_HOST is set but SMTP_FROM is not: mail cannot be sent")
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        # Every socket operation of the conversation shares one deadline, so the thread ends by the limit too.
        detail = await asyncio.to_thread(
            smtp_conversation,
            settings.smtp_host,
            settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=password,
            limit_s=limit_s,
            tls=tls or ssl.create_default_context(),
        )
    except SmtpProblem as problem:
        return Outcome(SMTP, Status.FAILED, str(problem))
    return Outcome(SMTP, Status.OK, detail)


class SmtpProblem(Exception):
    """What went wrong, in words that quote neither the password nor what the server said back about it."""


def smtp_conversation(
    host: str,
    port: int,
    *,
    starttls: bool,
    username: str | None,
    password: str | None,
    limit_s: float,
    tls: ssl.SSLContext,
) -> str:
    where = f"{host}:{port}"
    deadline = time.monotonic() + limit_s
    done: list[str] = []

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def timed_out(error: Exception) -> bool:
        # smtplib turns a timeout while reading an answer into SMTPServerDisconnected("... timed out").
        return isinstance(error, TimeoutError) or "timed out" in str(error) or time.monotonic() >= deadline

    try:
        # Connects and reads the greeting; the host is kept for STARTTLS to check the certificate against.
        smtp = smtplib.SMTP(host, port, timeout=left())
        done.append("connected")
    except (TimeoutError, smtplib.SMTPServerDisconnected) as error:
        if timed_out(error):
            raise SmtpProblem(f"{where}: no answer within {limit_s:g} s (the time limit of a check)") from None
        raise SmtpProblem(f"{where}: the server hung up before its greeting") from None
    except smtplib.SMTPException as error:
        raise SmtpProblem(f"{where}: the server refused the connection ({type(error).__name__})") from None
    except OSError as error:
        raise SmtpProblem(f"{where}: cannot connect ({error.strerror or type(error).__name__})") from None
    try:
        with smtp:
            _steps(smtp, where, starttls=starttls, username=username, password=password, tls=tls, left=left, done=done)
    except (TimeoutError, smtplib.SMTPServerDisconnected) as error:
        if timed_out(error):
            raise SmtpProblem(
                f"{where}: no answer within {limit_s:g} s after {', '.join(done)} (the time limit of a check)"
            ) from None
        raise SmtpProblem(f"{where}: the server hung up after {', '.join(done)}") from None
    return f"{where}: {', '.join(done)}, QUIT; no mail sent"


def _steps(
    smtp: smtplib.SMTP,
    where: str,
    *,
    starttls: bool,
    username: str | None,
    password: str | None,
    tls: ssl.SSLContext,
    left: Callable[[], float],
    done: list[str],
) -> None:
    def limit() -> None:
        if smtp.sock is not None:
            smtp.sock.settimeout(left())

    limit()
    code, _ = smtp.ehlo()
    if code != 250:
        raise SmtpProblem(f"{where}: the server refused EHLO ({code})")
    done.append("EHLO")
    if starttls:
        if not smtp.has_extn("starttls"):
            raise SmtpProblem(
                f"{where}: the server does not offer STARTTLS; use its submission port (587) or, for a server on "
                "your own network only, SMTP_STARTTLS=false"
            )
        limit()
        try:
            smtp.starttls(context=tls)
        except ssl.SSLError as error:
            raise SmtpProblem(f"{where}: STARTTLS failed ({error.reason or type(error).__name__})") from None
        limit()
        smtp.ehlo()
        done.append("STARTTLS")
    if username and password:
        if not smtp.has_extn("auth"):
            raise SmtpProblem(f"{where}: SMTP_USERNAME is set but the server offers no login (AUTH) here")
        limit()
        try:
            smtp.login(username, password)
        except smtplib.SMTPAuthenticationError as error:
            # Only the code: the server's text may echo what it was sent.
            raise SmtpProblem(f"{where}: the server refused SMTP_USERNAME/SMTP_PASSWORD ({error.smtp_code})") from None
        except smtplib.SMTPException as error:
            raise SmtpProblem(f"{where}: login failed ({type(error).__name__})") from None
        done.append("login accepted")
    elif username or password:
        raise SmtpProblem(f"{where}: set both SMTP_USERNAME and SMTP_PASSWORD, or neither")
    limit()
    smtp.quit()
