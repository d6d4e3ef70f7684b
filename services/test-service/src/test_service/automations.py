"""The worked example: a caught webhook → a filter → an outbound webhook.

A shop sends each new order to POST /api/test/hooks/big-orders (signed with ORDERS_WEBHOOK_SECRET). Orders under
ORDERS_MINIMUM_TOTAL stop there (the run is `filtered`, with the reason); the others are forwarded, once, to
ORDERS_FORWARD_URL. docs/automations.md walks through it line by line.
"""

from zaps import Run, webhook

from test_service.service import service
from test_service.settings import Settings


@service.automation(webhook(secret_setting="orders_webhook_secret"))
async def big_orders(run: Run[Settings]) -> None:
    order = run.event.payload
    total = float(order.get("total", 0))
    if total < run.settings.orders_minimum_total:
        run.filter(f"total {total:g} is under {run.settings.orders_minimum_total:g}")
    await run.webhook(
        "forward-order",
        url=run.settings.orders_forward_url,
        payload={"order_id": order.get("id"), "total": total, "customer": order.get("customer")},
    )
