"""Inbound examples, one per way a real sender proves itself (docs/webhooks.md has a curl for each, against
`make dev`): Stripe, GitHub, Shopify and Slack signatures, a generic HMAC, and a contact form posted from a plain
HTML page with its token in the URL. Each forwards what it received to ORDERS_FORWARD_URL (test-service's own
/sink by default, which only logs it), so a run shows the whole path."""

from zaps import GitHub, Hmac, Reply, Run, Shopify, Slack, Stripe, webhook

from test_service.service import service
from test_service.settings import Settings


async def forward(run: Run[Settings]) -> None:
    await run.webhook(
        "forward", url=run.settings.orders_forward_url, payload={"source": run.automation, "event": run.event.payload}
    )


service.automation(webhook(scheme=Stripe(secret_setting="stripe_webhook_secret")), name="stripe-payments")(forward)
service.automation(webhook(scheme=GitHub(secret_setting="github_webhook_secret")), name="github-pushes")(forward)
service.automation(webhook(scheme=Shopify(secret_setting="shopify_webhook_secret")), name="shopify-orders")(forward)
service.automation(webhook(scheme=Slack(secret_setting="slack_signing_secret")), name="slack-events")(forward)
# A sender of your own choosing: HMAC-SHA512 of timestamp + "." + body, base64, in X-Vendor-Signature.
service.automation(
    webhook(
        scheme=Hmac(
            secret_setting="vendor_webhook_secret",
            header="X-Vendor-Signature",
            algorithm="sha512",
            encoding="base64",
            timestamp_header="X-Vendor-Timestamp",
        )
    ),
    name="vendor-events",
)(forward)

THANKS = "<!doctype html><title>Thank you</title><p>Thank you, we will be in touch.</p>"


@service.automation(
    webhook(token_setting="contact_form_token", path_token=True, reply=Reply(body=THANKS, content_type="text/html")),
    name="contact-form",
)
async def contact_form(run: Run[Settings]) -> None:
    form = run.event.payload  # {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello!", ...}
    await run.webhook("forward", url=run.settings.orders_forward_url, payload=form)
