"""A Stripe payment: each `payment_intent.succeeded` event becomes one row of a Google Sheet.

A whole service in one file (as contact_form.py). In Stripe's dashboard, Developers → Webhooks → Add endpoint:
the URL https://<your host>/api/shop/hooks/stripe-payment and the event `payment_intent.succeeded`; copy the
endpoint's signing secret (whsec_…) into STRIPE_WEBHOOK_SECRET. Needs GOOGLE_SERVICE_ACCOUNT_JSON, the sheet shared
with that service account, and a tab "Payments" whose first row names the columns used below.
"""

from datetime import UTC, datetime

from pydantic import SecretStr
from zaps import Run, Service, Stripe, ZapsSettings, webhook
from zaps.connectors.sheets import GoogleSheets, append_row


class Settings(ZapsSettings):
    service_name: str = "shop"
    path_prefix: str = "/api/shop"
    stripe_webhook_secret: SecretStr | None = None  # STRIPE_WEBHOOK_SECRET: unset, the webhook answers 503
    payments_sheet: str = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"  # PAYMENTS_SHEET: the id in the sheet's URL


service = Service(Settings, title="Zaps shop-service")

# Stripe counts amounts in the currency's smallest unit, except for these currencies, which have none.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)


def amount(cents: int, currency: str) -> str:
    return str(cents) if currency in ZERO_DECIMAL else f"{cents / 100:.2f}"


@service.automation(webhook(scheme=Stripe(secret_setting="stripe_webhook_secret")), uses=[GoogleSheets])
async def stripe_payment(run: Run[Settings]) -> None:
    event = run.event.payload  # Stripe's Event object, its signature checked: {"id": "evt_…", "type": …, "data": …}
    if event["type"] != "payment_intent.succeeded":
        run.filter(f"{event['type']} is not a payment")
    payment = event["data"]["object"]
    currency = payment["currency"]
    # Keyed by the event's id: Stripe resends an event with the same id, which Zaps already takes as the same
    # event; the key column also lets an append whose answer was lost be checked in the sheet, not held.
    await append_row(
        run,
        "payment-row",
        spreadsheet_id=run.settings.payments_sheet,
        sheet="Payments",
        key_column="Stripe event",
        values=[
            event["id"],
            payment["id"],
            datetime.fromtimestamp(payment["created"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
            amount(payment["amount_received"], currency),
            currency.upper(),
            payment.get("receipt_email") or "",
        ],
    )
