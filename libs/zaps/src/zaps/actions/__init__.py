"""Side effects: an outbound webhook, a Slack message, an email. Each behind a small interface, with a real
implementation and a fake that records calls (`zaps.actions.fakes`)."""

from zaps.actions.base import Actions, EmailAction, SlackAction, WebhookAction

__all__ = ["Actions", "EmailAction", "SlackAction", "WebhookAction"]
