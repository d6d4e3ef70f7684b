"""zaps.testing.try_handler: the real Run.step on an in-memory ledger, with recording fakes for the actions."""

from typing import Any

import psycopg
from psycopg.rows import dict_row
from zaps import Run, ZapsSettings
from zaps.db import Database
from zaps.engine.step_store import MemorySteps, PostgresSteps
from zaps.retry import UnsureError
from zaps.testing.handlers import try_handler

SETTINGS = ZapsSettings(_env_file=None, service_name="shop")


async def notify(run: Run[ZapsSettings]) -> None:
    order = run.event.payload
    await run.slack("tell-sales", text=f"order {order['id']}")
    await run.email("mail-owner", to=["owner@example.com"], subject="order", body=f"order {order['id']}")


async def test_every_built_in_action_is_recorded_not_sent():
    result = await try_handler(notify, event={"id": "A-1"}, settings=SETTINGS)
    assert result.status == "succeeded"
    assert [call["text"] for call in result.sent["slack"]] == ["order A-1"]
    assert result.sent["email"][0]["to"] == ["owner@example.com"]
    assert result.sent["email"][0]["idempotency_key"] == "shop.notify/1/mail-owner"  # the engine's key
    assert [step["name"] for step in result.steps] == ["tell-sales", "mail-owner"]


async def test_a_dry_run_records_what_would_be_sent_and_does_not_stop_the_real_send():
    dry = await try_handler(notify, event={"id": "A-1"}, settings=SETTINGS, dry_run=True)
    assert dry.status == "succeeded"
    assert dry.sent == {"webhook": [], "slack": [], "email": []}
    assert dry.store.ledger == {}  # nothing that a later send would take for done
    step = dry.step("tell-sales")
    assert step["status"] == "would_send"
    assert step["output"] == {"shadow": True, "dry_run": True, "would": {"tell-sales": {"text": "order A-1"}}}
    real = await try_handler(notify, event={"id": "A-1"}, settings=SETTINGS, store=dry.store)
    assert (len(real.sent["slack"]), len(real.sent["email"])) == (1, 1)


async def test_an_email_that_may_have_gone_out_holds_the_run_for_review():
    result = await try_handler(
        notify, event={"id": "A-1"}, settings=SETTINGS, answers={"mail-owner": UnsureError("timed out after sending")}
    )
    assert result.status == "needs_review"  # email's rule is `hold`
    assert result.step("mail-owner")["status"] == "unsure"
    assert result.store.ledger["shop.notify/1/mail-owner"].status == "unsure"


async def lookup(run: Run[ZapsSettings]) -> None:
    async def fetch(key: str) -> dict[str, Any]:
        raise AssertionError("answered in the test: never called")

    customer = await run.step("fetch-customer", fetch)
    if customer["vip"]:
        await run.slack("tell-sales", text=f"VIP {customer['name']}")


async def test_a_step_of_your_own_is_answered_and_a_database_it_lacks_is_named():
    result = await try_handler(
        lookup, event={}, settings=SETTINGS, answers={"fetch-customer": {"vip": True, "name": "Ada"}}
    )
    assert (result.status, result.sent["slack"][0]["text"]) == ("succeeded", "VIP Ada")

    async def reads_the_database(run: Run[ZapsSettings]) -> None:
        async with run.runtime.database.connection():
            pass

    failed = await try_handler(reads_the_database, event={}, settings=SETTINGS)
    assert failed.status == "failed"
    assert "try_handler has no database" in str(failed.error)


async def test_the_memory_ledger_answers_as_the_postgresql_one(database_url):
    """The same sequence of ledger calls on both stores gives the same answers (MemorySteps is a copy of the SQL's
    rules, so this is what keeps it honest)."""
    with psycopg.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        event = conn.execute(
            "INSERT INTO zaps_event (source, dedup_key, payload) VALUES ('s', 'k', '{}') RETURNING id"
        ).fetchone()
    database = Database(database_url, min_size=1, max_size=2)
    await database.open()
    try:
        answers = []
        for store in (PostgresSteps(database), MemorySteps()):
            seen = []
            begin = {"automation": "a", "event_id": event["id"], "step": "s", "key": "a/1/s"}
            async with store.transaction() as conn:
                seen.append(await store.ledger_begin(conn, **begin))  # go, 1 try
                await store.ledger_not_done(conn, key="a/1/s")
                seen.append(await store.ledger_begin(conn, **begin))  # go again, 2 tries
                await store.ledger_unsure(conn, key="a/1/s")
                seen.append(await store.ledger_begin(conn, **begin))  # unsure
                await store.ledger_resend(conn, key="a/1/s")
                seen.append(await store.ledger_begin(conn, **begin))  # started, not answered: unsure
                await store.ledger_complete(conn, key="a/1/s", output={"ok": 1}, resolution="checked: done")
                seen.append(await store.ledger_begin(conn, **begin))  # done
            answers.append([(entry.state, entry.output, entry.tries) for entry in seen])
    finally:
        await database.close()
    assert answers[0] == answers[1]
    assert answers[1] == [
        ("go", None, 1),
        ("go", None, 2),
        ("unsure", None, 2),
        ("unsure", None, 3),
        ("done", {"ok": 1}, 3),
    ]
