"""Webhook triggers: signed or token requests become stored events and runs; everything else is refused with a
clear 4xx and stores nothing; the answer comes only after the commit."""

import asyncio
import json
import time

import pytest
from engine_service import service
from helpers import PREFIX, post_signed, query, runs_of
from zaps.testing.apps import running
from zaps.testing.waiting import eventually


async def test_signed_webhook_runs_and_delivers_once(engine_settings, database_url, sink):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        answer = await post_signed(client, "forward", {"order": 1})
        assert answer.status_code == 202
        assert answer.json()["runs"] == 1
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: runs and runs[0]["status"] == "succeeded",
        )
    (delivery,) = sink.to("/deliver")
    assert delivery.json == {"order": 1}
    assert delivery.headers["idempotency-key"] == f"enginetest.forward/{answer.json()['event_id']}/deliver"
    # Outbound webhooks are signed with the same scheme.
    from zaps import signing

    signing.verify(
        "outbound-signing-secret",
        delivery.body,
        delivery.headers["x-zaps-timestamp"],
        delivery.headers["x-zaps-signature"],
    )


async def test_the_same_webhook_twice_makes_one_run(engine_settings, database_url, sink):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        first = await post_signed(client, "forward", {"order": 2})
        again = await post_signed(client, "forward", {"order": 2})
        keyed = await post_signed(client, "forward", {"order": 3}, headers={"Idempotency-Key": "delivery-9"})
        keyed_retry = await post_signed(
            client, "forward", {"order": 3, "retried": True}, headers={"Idempotency-Key": "delivery-9"}
        )
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.forward"),
            lambda runs: len(runs) == 2 and all(r["status"] == "succeeded" for r in runs),
        )
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"event_id": first.json()["event_id"], "duplicate": True, "runs": 0}
    assert keyed_retry.json()["duplicate"] is True
    assert keyed.status_code == 202
    (event,) = query(database_url, "SELECT duplicates FROM zaps_event WHERE id = %s", first.json()["event_id"])
    assert event["duplicates"] == 1
    assert len(sink.to("/deliver")) == 2


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong secret", 401),
        ("no signature", 401),
        ("old timestamp", 401),
        ("not json", 422),
        ("too large", 413),
    ],
)
async def test_bad_requests_are_refused_and_store_nothing(engine_settings, database_url, case, status):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        if case == "wrong secret":
            answer = await post_signed(client, "forward", {"a": 1}, secret="not-the-secret")
        elif case == "no signature":
            answer = await client.post(f"{PREFIX}/hooks/forward", json={"a": 1})
        elif case == "old timestamp":
            answer = await post_signed(client, "forward", {"a": 1}, timestamp=int(time.time()) - 3600)
        elif case == "not json":
            from zaps import signing

            body = b"{oops"
            answer = await client.post(
                f"{PREFIX}/hooks/forward", content=body, headers=signing.sign("hook-secret-0123456789", body)
            )
        else:
            answer = await post_signed(client, "forward", {"blob": "x" * (1024 * 1024 + 10)})
    assert answer.status_code == status
    assert set(answer.json()["error"]) >= {"code", "message", "request_id"}
    assert query(database_url, "SELECT count(*) AS n FROM zaps_event")[0]["n"] == 0


async def test_token_webhook_takes_a_bearer_token_and_refuses_a_wrong_one(engine_settings, database_url, sink):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        ok = await client.post(
            f"{PREFIX}/hooks/tokened", json={"t": 1}, headers={"Authorization": "Bearer hook-token-0123456789"}
        )
        header = await client.post(
            f"{PREFIX}/hooks/tokened", json={"t": 2}, headers={"X-Zaps-Token": "hook-token-0123456789"}
        )
        wrong = await client.post(f"{PREFIX}/hooks/tokened", json={"t": 3}, headers={"Authorization": "Bearer nope"})
        await eventually(
            lambda: asyncio.to_thread(runs_of, database_url, "enginetest.tokened"),
            lambda runs: len(runs) == 2 and all(r["status"] == "succeeded" for r in runs),
        )
    assert (ok.status_code, header.status_code, wrong.status_code) == (202, 202, 401)
    stored = query(database_url, "SELECT headers FROM zaps_event ORDER BY id")
    # Credentials are never stored with the event (the console shows its headers).
    assert all("authorization" not in row["headers"] and "x-zaps-token" not in row["headers"] for row in stored)
    assert "hook-token-0123456789" not in json.dumps(stored)


async def test_database_down_means_503_and_the_sender_retries(engine_settings, database_url):
    from test_resilience_proxy import cut_database

    async with cut_database(database_url) as (proxy, url):
        app = service.create_app(engine_settings(database_url=url, run_worker=False))
        async with running(app) as client:
            await proxy.stop()
            answer = await post_signed(client, "forward", {"order": 5})
            await proxy.start()
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    assert query(database_url, "SELECT count(*) AS n FROM zaps_event")[0]["n"] == 0
