"""The `outbox` fixture: an automation's email, sent by the real email action over SMTP, is there to assert on."""

from datetime import timedelta

from pydantic import SecretStr
from zaps import Retry, Run, Service, ZapsSettings, webhook
from zaps.testing.apps import running


class MailSettings(ZapsSettings):
    service_name: str = "mailtest"
    path_prefix: str = "/api/mailtest"
    hook_token: SecretStr = SecretStr("mail-hook-token-0123456789")


service = Service(MailSettings)


@service.automation(webhook(token_setting="hook_token"), retry=Retry(delays=(timedelta(seconds=2),)))
async def tell_the_owner(run: Run) -> None:
    order = run.event.payload
    await run.email(
        "tell-owner", to=["owner@example.com"], subject=f"Order {order['id']}", body=f"Total {order['total']}"
    )


async def test_an_automations_email_arrives_in_the_outbox(make_settings, outbox):
    settings = make_settings(MailSettings, **outbox.settings)
    headers = {"Authorization": "Bearer mail-hook-token-0123456789"}
    async with running(service.create_app(settings)) as client:
        first = await client.post(
            "/api/mailtest/hooks/tell-the-owner", json={"id": "A-1", "total": 250}, headers=headers
        )
        again = await client.post(
            "/api/mailtest/hooks/tell-the-owner", json={"id": "A-1", "total": 250}, headers=headers
        )
        (mail,) = await outbox.wait_for(1)

    assert (first.status_code, again.status_code) == (202, 200)  # the same order twice is one event, one email
    assert outbox.to("owner@example.com") == [mail]
    assert outbox.to("someone-else@example.com") == []
    assert mail.sender == "zaps@example.test"
    assert mail.subject == "Order A-1"
    assert mail.body.strip() == "Total 250"
    assert mail.message["Message-ID"].endswith("@zaps>")  # derived from the step's idempotency key
