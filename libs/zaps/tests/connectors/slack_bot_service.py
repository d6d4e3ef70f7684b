"""A small service for the Slack app tests: a signed webhook in, a post (and a thread reply) out."""

from datetime import timedelta

from pydantic import SecretStr
from zaps import Retry, Run, Service, ZapsSettings, webhook
from zaps.connectors.slack import SlackBot, post_message

FAST = Retry.exponential(attempts=3, first=timedelta(seconds=0.05), cap=timedelta(seconds=0.3))


class SlackBotTestSettings(ZapsSettings):
    service_name: str = "slackbottest"
    path_prefix: str = "/api/slackbottest"
    hook_secret: SecretStr = SecretStr("hook-secret-0123456789")


service = Service(SlackBotTestSettings)


@service.automation(webhook(secret_setting="hook_secret"), retry=FAST, uses=[SlackBot])
async def announce(run: Run[SlackBotTestSettings]) -> None:
    order = run.event.payload
    first = await post_message(
        run, "announce", channel=order.get("channel"), text=order["text"], blocks=order.get("blocks")
    )
    if order.get("reply"):
        await post_message(run, "reply", channel=first["channel"], text=order["reply"], thread_ts=first["ts"])
