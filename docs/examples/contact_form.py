"""A contact form posted from a plain HTML page (contact_form.html): a Slack message with the details in its thread,
and an email to the office.

A whole service in one file; in a service made with `zaps new service`, the settings go to settings.py and the
automation to automations.py. Needs CONTACT_FORM_TOKEN (the token in the form's URL), SLACK_BOT_TOKEN (a Slack app
invited to the channel) and the SMTP_* settings.
"""

from pydantic import SecretStr
from zaps import Reply, Run, Service, ZapsSettings, webhook
from zaps.connectors.slack import SlackBot, post_message


class Settings(ZapsSettings):
    service_name: str = "site"
    path_prefix: str = "/api/site"
    contact_form_token: SecretStr | None = None  # CONTACT_FORM_TOKEN: unset, the form's URL answers 503
    contact_channel: str = "C0123456789"  # CONTACT_CHANNEL: where the Slack app posts
    contact_inbox: str = "office@example.com"  # CONTACT_INBOX: who gets the email


service = Service(Settings, title="Zaps site-service")

# The browser shows whatever the webhook answers: a page, not Zaps' JSON.
THANKS = "<!doctype html><title>Thank you</title><p>Thank you, we will be in touch.</p>"


def slack_text(text: str) -> str:
    """A visitor's words as plain text in Slack: escaped as Slack asks, so "<!channel>" pings no one."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@service.automation(
    webhook(token_setting="contact_form_token", path_token=True, reply=Reply(body=THANKS, content_type="text/html")),
    uses=[SlackBot],
)
async def contact_form(run: Run[Settings]) -> None:
    form = run.event.payload  # the fields by name, as strings: {"name": "Ada", "email": "ada@example.com", ...}
    name, email, message = form.get("name", ""), form.get("email", ""), form.get("message", "")
    if not (email and message):
        run.filter("the form came without an email or a message")
    first = await post_message(
        run, "announce", channel=run.settings.contact_channel, text=f"New message from {slack_text(name or email)}"
    )
    # The details in the message's thread: the channel shows one line per visitor.
    await post_message(
        run,
        "details",
        channel=first["channel"],
        thread_ts=first["ts"],
        text=f"From: {slack_text(name)} ({slack_text(email)})\n\n{slack_text(message)}",
    )
    await run.email(
        "email",
        to=[run.settings.contact_inbox],
        subject=f"Contact form: {name or email}",
        body=f"From: {name} <{email}>\n\n{message}\n",
    )
