"""The client logs in with the JWT grant, shares one token between processes, renews it once under a lock, and
recovers from an expired access token, a dead refresh token and a lost Redis."""

import asyncio
import time

import pytest
import redis.asyncio as redis
from pydantic import SecretStr
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from ringcentral_service.errors import AuthError
from ringcentral_service.tokens import read_token
from zaps.testing.apps import free_port


async def test_logs_in_with_the_jwt_grant_and_sends_a_capitalised_bearer(sim, make_client):
    client = make_client()

    await client.call_log_sync("FSync")

    (login,) = sim.exchanges("getToken")
    assert login.headers["authorization"].startswith("Basic ")
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in login.body
    assert login.headers["content-type"] == "application/x-www-form-urlencoded"
    (poll,) = sim.exchanges("syncUserCallLog")
    assert poll.headers["authorization"] == "Bearer [redacted]"  # the simulator keeps only the scheme
    assert await client.authenticated()


async def test_two_clients_share_one_token_and_one_login(sim, make_client):
    first, second = make_client(), make_client()

    await asyncio.gather(first.call_log_sync("FSync"), second.call_log_sync("FSync"))
    await second.message_sync("FSync")

    assert (await sim.counts())["token_grants"] == {"jwt": 1}
    assert (await read_token(first.store)) == (await read_token(second.store))


async def test_two_workers_racing_to_refresh_send_exactly_one_refresh_request(sim, make_client):
    now = [time.time()]
    first, second = make_client(clock=lambda: now[0]), make_client(clock=lambda: now[0])
    await first.call_log_sync("FSync")
    old = await read_token(first.store)
    # Both workers now find the token inside its refresh margin, and the token endpoint is slow, so both want to
    # renew at the same moment.
    now[0] += 3600 - 60
    await sim.fault(operation="getToken", delay_s=0.3)

    await asyncio.gather(first.call_log_sync("FSync"), second.call_log_sync("FSync"), second.message_sync("FSync"))

    assert (await sim.counts())["token_grants"] == {"jwt": 1, "refresh_token": 1}
    new = await read_token(second.store)
    assert new is not None and old is not None
    assert new.access_token != old.access_token
    assert all(e.status == 200 for e in sim.exchanges() if e.operation != "getToken")


async def test_an_access_token_that_expires_mid_poll_is_renewed_and_the_poll_retried(sim, make_client):
    client = make_client()
    await client.call_log_sync("FSync")
    await sim.add_call()
    await sim.advance(3601)  # RingCentral's clock passes the expiry; the client's does not know yet

    result = await client.call_log_sync("FSync")

    assert len(result.records) == 1
    assert [e.status for e in sim.exchanges("syncUserCallLog")] == [200, 401, 200]
    assert (await sim.counts())["token_grants"] == {"jwt": 1, "refresh_token": 1}


async def test_a_dead_refresh_token_falls_back_to_a_new_jwt_login(sim, make_client):
    client = make_client()
    await client.call_log_sync("FSync")
    await sim.revoke_sessions(refresh=True)  # a password change ends the session: access and refresh tokens die

    await client.call_log_sync("FSync")

    assert (await sim.counts())["token_grants"] == {"jwt": 2, "refresh_token": 1}
    refused = [e for e in sim.exchanges("getToken") if e.status != 200]
    assert [e.status for e in refused] == [400]
    assert b"invalid_grant" in refused[0].response_body


async def test_a_second_401_in_a_row_is_raised_not_retried_forever(sim, make_client):
    client = make_client()
    await client.call_log_sync("FSync")
    await sim.fault(operation="syncUserCallLog", status=401, times=2)

    with pytest.raises(AuthError) as raised:
        await client.call_log_sync("FSync")

    assert raised.value.status == 401
    assert [e.status for e in sim.exchanges("syncUserCallLog")] == [200, 401, 401]


async def test_a_refused_jwt_raises_auth_error_after_one_attempt(sim, make_client):
    client = make_client(jwt=SecretStr("not-the-jwt-the-app-has"))

    with pytest.raises(AuthError) as raised:
        await client.call_log_sync("FSync")

    assert raised.value.oauth_error == "invalid_grant"
    assert not raised.value.retryable
    assert (await sim.counts())["by_operation"] == {"getToken": 1}


async def test_losing_redis_costs_one_login_and_nothing_else(sim, make_client):
    # Nothing listens on this port: every Redis command fails, as when Redis is down (without redis-py's retries,
    # which only make each failure slower; the store stops asking Redis for a while after one).
    dead = redis.Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    client = make_client(redis_client=dead)

    await client.call_log_sync("FSync")
    await client.message_sync("FSync")
    await client.call_log_sync("FSync")

    assert (await sim.counts())["token_grants"] == {"jwt": 1}
    await dead.aclose()
