"""Webhook triggers: signed or token requests become stored events and runs; everything else is refused with a
clear 4xx and stores nothing; the answer comes only after the commit."""

import asyncio
import json
import time

import httpx
import pytest
from engine_service import service
from helpers import PREFIX, SECRET, post_signed, query, runs_of
from zaps import signing
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
    # Outbound webhooks are signed with the same scheme, the Idempotency-Key included (v2).
    from zaps import signing

    signed_key = signing.verify(
        "outbound-signing-secret",
        delivery.body,
        delivery.headers["x-zaps-timestamp"],
        delivery.headers["x-zaps-signature"],
        idempotency_key=delivery.headers["idempotency-key"],
    )
    assert signed_key == delivery.headers["idempotency-key"]
    assert delivery.headers["x-zaps-signature"].startswith("v2=")


async def test_the_same_webhook_twice_makes_one_run(engine_settings, database_url, sink):
    app = service.create_app(engine_settings())
    async with running(app) as client:
        first = await post_signed(client, "forward", {"order": 2})
        again = await post_signed(client, "forward", {"order": 2})
        keyed = await post_signed(client, "forward", {"order": 3}, key="delivery-9")
        keyed_retry = await post_signed(client, "forward", {"order": 3, "retried": True}, key="delivery-9")
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


# --- Replayed requests: the event's key comes only from what the sender signed ---------------------------------------


async def replay(client, captured: httpx.Request, **changed_headers: str) -> httpx.Response:
    """Send a captured request again, byte for byte, with some headers changed (as an attacker could)."""
    headers = dict(captured.headers)
    headers.update({name.lower(): value for name, value in changed_headers.items()})
    return await client.post(str(captured.url), content=captured.content, headers=headers)


async def test_a_captured_signed_request_replayed_with_a_new_key_is_the_same_event(engine_settings, database_url):
    app = service.create_app(engine_settings(run_worker=False))
    async with running(app) as client:
        # Signed over the body only (v1): the Idempotency-Key it carries is not signed, so it does not count.
        first = await post_signed(client, "forward", {"order": 10}, headers={"Idempotency-Key": "k-1"})
        captured = first.request
        exact = await replay(client, captured)
        new_key = await replay(client, captured, **{"Idempotency-Key": "k-2"})
        no_key = await replay(client, captured, **{"Idempotency-Key": ""})

    assert first.status_code == 202
    for again in (exact, new_key, no_key):
        assert again.status_code == 200
        assert again.json() == {"event_id": first.json()["event_id"], "duplicate": True, "runs": 0}
    (event,) = query(database_url, "SELECT dedup_key AS key, duplicates FROM zaps_event")
    assert event["key"].startswith("sha256:")
    assert event["duplicates"] == 3


async def test_a_signed_key_counts_and_cannot_be_swapped(engine_settings, database_url):
    app = service.create_app(engine_settings(run_worker=False))
    async with running(app) as client:
        first = await post_signed(client, "forward", {"order": 11}, key="order-11")
        captured = first.request
        exact = await replay(client, captured)
        swapped = await replay(client, captured, **{"Idempotency-Key": "order-11-again"})
        dropped = await client.post(
            str(captured.url),
            content=captured.content,
            headers={k: v for k, v in captured.headers.items() if k != "idempotency-key"},
        )
        # The sender's own retry, signed again with the same key, is the same delivery even if the body changed.
        retried = await post_signed(client, "forward", {"order": 11, "attempt": 2}, key="order-11")

    assert first.status_code == 202
    assert (exact.status_code, exact.json()["duplicate"]) == (200, True)
    assert (swapped.status_code, dropped.status_code) == (401, 401)
    assert (retried.status_code, retried.json()["event_id"]) == (200, first.json()["event_id"])
    assert query(database_url, "SELECT dedup_key AS key FROM zaps_event") == [{"key": "key:order-11"}]


async def test_a_token_webhook_ignores_the_key_header(engine_settings, database_url):
    token = {"Authorization": "Bearer hook-token-0123456789"}
    app = service.create_app(engine_settings(run_worker=False))
    async with running(app) as client:
        first = await client.post(f"{PREFIX}/hooks/tokened", json={"t": 10}, headers={**token, "Idempotency-Key": "a"})
        again = await replay(client, first.request, **{"Idempotency-Key": "b"})

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["event_id"] == first.json()["event_id"]


@pytest.mark.parametrize(
    ("signature", "key", "why"),
    [
        ("v2=deadbeef", None, "needs the Idempotency-Key"),
        ("v2=deadbeef", "caf\u00e9", "printable ASCII"),
        ("v1=\u00e9\u00e9", None, "does not match"),
    ],
)
async def test_malformed_signatures_and_keys_are_refused(engine_settings, database_url, signature, key, why):
    headers = {"content-type": "application/json", "X-Zaps-Timestamp": str(int(time.time()))}
    headers["X-Zaps-Signature"] = signature
    if key is not None:
        headers["Idempotency-Key"] = key
    app = service.create_app(engine_settings(run_worker=False))
    async with running(app) as client:
        answer = await client.post(
            f"{PREFIX}/hooks/forward",
            content=b'{"a": 1}',
            headers=[(name.encode(), value.encode("latin-1")) for name, value in headers.items()],
        )
    assert answer.status_code == 401
    assert why in answer.json()["error"]["message"]


async def test_one_zaps_service_delivers_to_another_once(engine_settings, database_url, sink):
    # The receiving webhook shares the sender's signing secret, as two Zaps services set up to talk would.
    settings = engine_settings(hook_secret="outbound-signing-secret")
    app = service.create_app(settings)
    async with running(app) as client:
        await post_signed(client, "forward", {"order": 12}, secret="outbound-signing-secret")
        await eventually(lambda: asyncio.to_thread(sink.to, "/deliver"), lambda delivered: len(delivered) == 1)
        (delivery,) = sink.to("/deliver")
        headers = {name: delivery.headers[name] for name in ("x-zaps-timestamp", "x-zaps-signature", "idempotency-key")}
        received = await client.post(f"{PREFIX}/hooks/two-steps", content=delivery.body, headers=headers)
        again = await client.post(f"{PREFIX}/hooks/two-steps", content=delivery.body, headers=headers)
        rekeyed = await client.post(
            f"{PREFIX}/hooks/two-steps", content=delivery.body, headers={**headers, "idempotency-key": "fresh"}
        )

    assert received.status_code == 202
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert rekeyed.status_code == 401
    (event,) = query(database_url, "SELECT dedup_key AS key FROM zaps_event WHERE source = 'enginetest.two-steps'")
    assert event["key"] == "key:" + delivery.headers["idempotency-key"]


@pytest.mark.parametrize(("depth", "status"), [(100_000, 422), (65, 422), (64, 202)])
async def test_signed_deeply_nested_json_is_refused_with_a_422(engine_settings, database_url, depth, status):
    body = ("[" * depth + "]" * depth).encode()
    app = service.create_app(engine_settings(run_worker=False))
    async with running(app) as client:
        answer = await client.post(
            f"{PREFIX}/hooks/forward",
            content=body,
            headers={"content-type": "application/json", **signing.sign(SECRET, body)},
        )
    assert answer.status_code == status, answer.text
    if status == 422:
        assert answer.json()["error"]["message"] == "body is nested deeper than 64 levels"
