"""The real actions, built from settings."""

from __future__ import annotations

from zaps.actions.base import Actions
from zaps.actions.email import SmtpEmail
from zaps.actions.http import HttpWebhook, SlackWebhook
from zaps.settings import ZapsSettings


def build_actions(settings: ZapsSettings) -> Actions:
    def secret(value: object) -> str | None:
        return value.get_secret_value() if value is not None and hasattr(value, "get_secret_value") else None

    timeout = settings.action_timeout_s
    return Actions(
        webhook=HttpWebhook(timeout_s=timeout, default_secret=secret(settings.webhook_signing_secret)),
        slack=SlackWebhook(default_url=secret(settings.slack_webhook_url), timeout_s=timeout),
        email=SmtpEmail(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=secret(settings.smtp_password),
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            timeout_s=timeout,
        ),
    )
