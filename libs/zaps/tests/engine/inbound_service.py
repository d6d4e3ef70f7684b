"""A service for the inbound webhook tests: one automation per provider scheme, a form with its token in the URL
(as a plain HTML page posts it), and a Twilio-style sender that needs TwiML back. Handlers do nothing: the tests
are about what gets stored, and what does not."""

from pydantic import SecretStr
from zaps import GitHub, Hmac, Reply, Run, Service, Shopify, Slack, Stripe, ZapsSettings, webhook


class InboundSettings(ZapsSettings):
    service_name: str = "inboundtest"
    path_prefix: str = "/api/inboundtest"
    stripe_secret: SecretStr = SecretStr("whsec_stripe-test-secret-0123")
    github_secret: SecretStr = SecretStr("github-test-secret-0123456")
    shopify_secret: SecretStr = SecretStr("shopify-test-secret-0123456")
    slack_secret: SecretStr = SecretStr("slack-test-signing-secret-0123")
    vendor_secret: SecretStr = SecretStr("vendor-test-secret-0123456")
    form_token: SecretStr = SecretStr("form-token-7c1e9a0b3d5f")


service = Service(InboundSettings)


async def nothing(run: Run) -> None:
    """Stored is what counts here."""


TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
VENDOR = Hmac(
    secret_setting="vendor_secret",
    header="X-Vendor-Signature",
    algorithm="sha512",
    encoding="base64",
    prefix="sha512=",
    timestamp_header="X-Vendor-Timestamp",
)

service.automation(webhook(scheme=Stripe(secret_setting="stripe_secret")), name="stripe-payments")(nothing)
service.automation(webhook(scheme=GitHub(secret_setting="github_secret")), name="github-pushes")(nothing)
service.automation(webhook(scheme=Shopify(secret_setting="shopify_secret")), name="shopify-orders")(nothing)
service.automation(webhook(scheme=Slack(secret_setting="slack_secret")), name="slack-events")(nothing)
service.automation(webhook(scheme=VENDOR), name="vendor-events")(nothing)
service.automation(
    webhook(scheme=Hmac(secret_setting="vendor_secret", header="X-Body-Signature", algorithm="sha1")),
    name="vendor-body-only",
)(nothing)
service.automation(
    webhook(
        token_setting="form_token",
        path_token=True,
        reply=Reply(status=303, location="https://example.com/thanks"),
    ),
    name="contact-form",
)(nothing)
service.automation(
    webhook(token_setting="form_token", path_token=True, reply=Reply(body=TWIML, content_type="text/xml")),
    name="twilio-sms",
)(nothing)
