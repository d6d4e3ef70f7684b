"""The client waits for its rate-limit group before sending: it reads X-Rate-Limit-* headers, honours Retry-After on
429 a bounded number of times, shares a penalty with every other worker, and raises 5xx as retryable errors."""

import time

import pytest
from ringcentral_service.errors import RateLimited, ServerError


async def test_a_429_storm_is_waited_out_honouring_retry_after(sim, make_client):
    client = make_client()
    await client.call_log_sync("FSync")
    await sim.fault(operation="syncUserCallLog", status=429, times=3, retry_after=0.2)

    started = time.monotonic()
    await client.call_log_sync("FSync")
    elapsed = time.monotonic() - started

    assert [e.status for e in sim.exchanges("syncUserCallLog")] == [200, 429, 429, 429, 200]
    assert elapsed >= 0.6, "each Retry-After of 0.2 s must be waited out before the next request"
    assert sim.exchanges("syncUserCallLog")[1].response_headers["retry-after"] == "0.2"


async def test_a_429_storm_longer_than_the_retry_budget_raises_rate_limited(sim, make_client):
    client = make_client(max_rate_limit_retries=2)
    await sim.fault(operation="syncMessages", status=429, times=None, retry_after=0.05)

    with pytest.raises(RateLimited) as raised:
        await client.message_sync("FSync")

    assert raised.value.retry_after == pytest.approx(0.05)
    assert raised.value.retryable
    assert raised.value.error_codes == ("CMN-301",)
    assert len(sim.exchanges("syncMessages")) == 3  # the first try and two retries, then it stops


async def test_a_retry_after_longer_than_the_allowed_wait_is_raised_and_nothing_more_is_sent(sim, make_client):
    client = make_client(max_wait_s=1.0)
    await sim.fault(operation="syncUserCallLog", status=429, times=1, retry_after=30)

    with pytest.raises(RateLimited):
        await client.call_log_sync("FSync")
    with pytest.raises(RateLimited) as again:
        await client.call_log_sync("FSync")  # the penalty still runs: sending now would only restart it

    assert again.value.retry_after > 28
    assert len(sim.exchanges("syncUserCallLog")) == 1


async def test_a_spent_budget_in_the_headers_makes_the_next_request_wait_instead_of_meeting_a_429(sim, make_client):
    await sim.rate_limit("Heavy", limit=2, window_s=0.5, penalty_s=30)
    client = make_client()

    await client.call_log_sync("FSync")
    await client.call_log_sync("FSync")
    spent = (await client.budgets.snapshot())["Heavy"]
    started = time.monotonic()
    await client.call_log_sync("FSync")

    assert (spent.limit, spent.remaining, spent.window_s) == (2, 0, 0.5)
    assert time.monotonic() - started >= 0.4
    assert [e.status for e in sim.exchanges("syncUserCallLog")] == [200, 200, 200]
    assert (await sim.counts())["requests_during_penalty"] == 0


async def test_a_penalty_seen_by_one_worker_stops_the_others_too(sim, make_client):
    first, second = make_client(max_rate_limit_retries=0), make_client()
    await first.call_log_sync("FSync")
    await sim.fault(operation="syncUserCallLog", status=429, times=1, retry_after=0.4)

    with pytest.raises(RateLimited):
        await first.call_log_sync("FSync")
    started = time.monotonic()
    await second.call_log_sync("FSync")

    assert time.monotonic() - started >= 0.3, "the second worker must wait out the penalty the first one met"
    assert [e.status for e in sim.exchanges("syncUserCallLog")] == [200, 429, 200]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_raise_a_retryable_server_error_without_retrying(sim, make_client, status):
    client = make_client()
    await sim.fault(operation="syncUserCallLog", status=status, retry_after=7 if status == 503 else None)

    with pytest.raises(ServerError) as raised:
        await client.call_log_sync("FSync")

    assert raised.value.status == status
    assert raised.value.retryable
    assert raised.value.retry_after == (7 if status == 503 else None)
    assert len(sim.exchanges("syncUserCallLog")) == 1
