"""The worked example's unit tests, with zaps.testing.try_handler: no database, no worker, nothing sent."""

from test_service.automations import big_orders
from test_service.settings import Settings
from zaps.retry import RetryableError
from zaps.testing.handlers import try_handler

SETTINGS = Settings(_env_file=None, orders_forward_url="https://shop.example/orders")
BIG = {"id": "A-1", "total": 250, "customer": "Ada"}


async def test_a_big_order_is_forwarded():
    result = await try_handler(big_orders, event=BIG, settings=SETTINGS)
    assert result.status == "succeeded"
    (sent,) = result.sent["webhook"]  # what the recording fake was given
    assert sent["url"] == "https://shop.example/orders"
    assert sent["payload"] == {"order_id": "A-1", "total": 250.0, "customer": "Ada"}
    assert result.step("forward-order")["status"] == "succeeded"


async def test_a_small_order_is_filtered():
    result = await try_handler(big_orders, event={"id": "A-2", "total": 20}, settings=SETTINGS)
    assert (result.status, result.filter_reason) == ("filtered", "total 20 is under 100")
    assert result.sent["webhook"] == []


async def test_a_target_that_was_down_gets_the_order_once():
    down = await try_handler(
        big_orders, event=BIG, settings=SETTINGS, answers={"forward-order": RetryableError("503 from the shop")}
    )
    assert (down.status, down.retryable) == ("failed", True)
    # The engine's next try: the same event and ledger (`store`). It sends; a third try reuses the answer.
    again = await try_handler(big_orders, event=BIG, settings=SETTINGS, store=down.store, attempt=2)
    third = await try_handler(big_orders, event=BIG, settings=SETTINGS, store=down.store, attempt=3)
    assert (again.status, len(again.sent["webhook"])) == ("succeeded", 1)
    assert (third.step("forward-order")["status"], third.sent["webhook"]) == ("reused", [])
