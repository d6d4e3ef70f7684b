"""`run.http`: any call to any API, once per event. Against a real API on 127.0.0.1 (zaps.testing.echo_api): what
the server sees, what comes back, the retry and dead paths, the unsure rule with and without an idempotency key
header, a replay that calls nothing, and credentials that never reach a run record or a log line."""

import asyncio
import json
import logging

import pytest
from helpers import query
from http_service import API_USER, service
from zaps import signing
from zaps.logging import JsonFormatter
from zaps.testing.apps import running
from zaps.testing.echo_api import Answer, EchoApi
from zaps.testing.waiting import eventually

PREFIX = "/api/httptest"
HOOK_SECRET = "hook-secret-0123456789"
PASSWORD = "pw-4f1e9c2a7b"
TOKEN = "tok-8d3b5e71c0aa"
AUTOMATION = "httptest.calls"


@pytest.fixture
def api():
    with EchoApi(basic=(API_USER, PASSWORD), bearer=TOKEN) as server:
        yield server


@pytest.fixture
def http_settings(make_settings, api):
    def build(**overrides):
        values = {"api_url": api.url, "api_password": PASSWORD, "api_token": TOKEN, **overrides}
        return make_settings(service.settings_class, **values)

    return build


async def start(client, *calls):
    body = json.dumps({"calls": list(calls)}).encode()
    headers = {"content-type": "application/json", **signing.sign(HOOK_SECRET, body)}
    answer = await client.post(f"{PREFIX}/hooks/calls", content=body, headers=headers)
    assert answer.status_code == 202, answer.text


def runs(database_url):
    return query(database_url, "SELECT * FROM zaps_run WHERE automation = %s ORDER BY id", AUTOMATION)


async def finished(database_url, statuses=("succeeded", "dead", "needs_review")):
    (run,) = await eventually(
        lambda: asyncio.to_thread(runs, database_url),
        lambda got: len(got) == 1 and got[0]["status"] in statuses,
        timeout=20,
    )
    return run


def steps(database_url, run_id):
    return query(database_url, "SELECT * FROM zaps_step WHERE run_id = %s ORDER BY id", run_id)


async def test_calls_reach_the_server_as_described_and_the_answers_come_back_parsed(http_settings, database_url, api):
    app = service.create_app(http_settings())
    async with running(app) as client:
        await start(
            client,
            {"step": "search", "path": "/bearer", "query": {"q": "red shoes", "page": "2"}, "auth": "bearer"},
            {"step": "create", "method": "POST", "path": "/echo", "json": {"name": "Ada", "tags": ["vip"]}},
            {
                "step": "subscribe",
                "method": "POST",
                "path": "/basic",
                "form": {"email": "ada@example.com"},
                "auth": "basic",
            },
            {
                "step": "upload",
                "method": "PUT",
                "path": "/echo",
                "content": "a,b\n1,2\n",
                "headers": {"content-type": "text/csv"},
            },
            {"step": "read-text", "path": "/text"},
        )
        run = await finished(database_url)
    assert run["status"] == "succeeded", run["error"]

    search, create, subscribe, upload, text = api.calls
    assert (search.method, search.path, search.query) == ("GET", "/bearer", {"q": ["red shoes"], "page": ["2"]})
    assert search.headers["authorization"] == f"Bearer {TOKEN}"
    assert create.json == {"name": "Ada", "tags": ["vip"]}
    assert create.headers["content-type"] == "application/json"
    assert subscribe.headers["content-type"] == "application/x-www-form-urlencoded"
    assert subscribe.body == b"email=ada%40example.com"
    assert subscribe.headers["authorization"].startswith("Basic ")  # the server checked it: a 401 is dead
    assert (upload.method, upload.body, upload.headers["content-type"]) == ("PUT", b"a,b\n1,2\n", "text/csv")
    assert text.method == "GET"

    outputs = {s["name"]: s["output"] for s in steps(database_url, run["id"])}
    assert outputs["search"]["status"] == 200
    assert outputs["search"]["body"]["query"] == {"q": "red shoes", "page": "2"}  # JSON answer: parsed
    assert outputs["search"]["headers"]["x-request-id"] == "req-1"
    assert outputs["create"]["body"]["json"] == {"name": "Ada", "tags": ["vip"]}
    assert outputs["subscribe"]["body"]["form"] == {"email": "ada@example.com"}
    assert outputs["read-text"]["body"] == "plain words, not JSON"  # text answer: kept as text
    assert outputs["read-text"]["truncated"] is False


async def test_a_503_is_retried_and_the_next_try_succeeds(http_settings, database_url, api):
    api.script("/echo", 503)
    app = service.create_app(http_settings())
    async with running(app) as client:
        await start(client, {"step": "create", "method": "POST", "path": "/echo", "json": {"n": 1}})
        run = await finished(database_url)
    assert (run["status"], run["attempts"]) == ("succeeded", 2)
    assert len(api.to("/echo")) == 2
    assert [s["status"] for s in steps(database_url, run["id"])] == ["failed", "succeeded"]


async def test_a_429_waits_as_long_as_its_retry_after_asks(http_settings, database_url, api):
    api.script("/echo", Answer(429, b'{"error": "slow down"}', headers={"retry-after": "1"}))
    app = service.create_app(http_settings())
    async with running(app) as client:
        await start(client, {"step": "create", "method": "POST", "path": "/echo", "json": {"n": 2}})
        run = await finished(database_url)
    assert run["status"] == "succeeded"
    first, second = api.to("/echo")
    assert second.at - first.at >= 0.9  # the backoff alone would have waited 0.05 s


async def test_a_404_is_dead_at_once_with_the_answer_recorded(http_settings, database_url, api):
    app = service.create_app(http_settings())
    async with running(app) as client:
        await start(client, {"step": "fetch", "path": "/missing"})
        run = await finished(database_url)
    assert (run["status"], run["attempts"]) == ("dead", 1)
    assert "GET http://127.0.0.1" in run["error"]
    assert "answered 404" in run["error"] and "no such resource" in run["error"]
    (step,) = steps(database_url, run["id"])
    assert step["status"] == "failed" and "no such resource" in step["error"]
    assert len(api.calls) == 1


async def test_a_timeout_after_sending_holds_the_run_for_review_by_default(http_settings, database_url, api):
    api.script("/echo", Answer(delay_s=2.0))
    app = service.create_app(http_settings())
    async with running(app) as client:
        await start(
            client, {"step": "charge", "method": "POST", "path": "/echo", "json": {"cents": 500}, "timeout": 0.5}
        )
        run = await finished(database_url)
    assert run["status"] == "needs_review"
    assert len(api.to("/echo")) == 1  # held: never sent a second time on its own
    assert [s["status"] for s in steps(database_url, run["id"])] == ["unsure"]


async def test_with_an_idempotency_key_header_a_timeout_is_resent_with_the_same_key(http_settings, database_url, api):
    api.script("/echo", Answer(delay_s=2.0))
    app = service.create_app(http_settings())
    async with running(app) as client:
        await start(
            client,
            {
                "step": "charge",
                "method": "POST",
                "path": "/echo",
                "json": {"cents": 500},
                "timeout": 0.5,
                "idempotency_key_header": "Idempotency-Key",
            },
        )
        run = await finished(database_url)
    assert run["status"] == "succeeded"
    keys = [call.headers["idempotency-key"] for call in api.to("/echo")]
    assert len(keys) == 2 and len(set(keys)) == 1  # the repeat carries the key the server deduplicates on
    assert keys[0].startswith(f"{AUTOMATION}/") and keys[0].endswith("/charge")
    assert [s["status"] for s in steps(database_url, run["id"])] == ["unsure", "unsure", "succeeded"]


async def test_replaying_a_succeeded_run_never_calls_the_server_again(http_settings, database_url, api):
    app = service.create_app(http_settings())
    async with running(app) as client:
        await start(client, {"step": "create", "method": "POST", "path": "/echo", "json": {"n": 3}})
        run = await finished(database_url)
        replayed = await client.post(
            f"{PREFIX}/admin/runs/replay",
            json={"run_ids": [run["id"]]},
            headers={"Authorization": "Bearer changeme"},
        )
        assert replayed.json()["queued"] == [run["id"]]
        await eventually(
            lambda: asyncio.to_thread(steps, database_url, run["id"]),
            lambda got: [s["status"] for s in got] == ["succeeded", "reused"],
        )
        (again,) = await asyncio.to_thread(runs, database_url)
    assert again["status"] == "succeeded"
    assert len(api.calls) == 1
    first, reused = steps(database_url, run["id"])
    assert reused["output"] == first["output"]  # the replay got the first answer back, from the ledger


class Captured(logging.Handler):
    """Every log record, as the service's JSON line and as its raw fields (before the redactor's pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.json = JsonFormatter("httptest")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.json.format(record))
        self.lines.append(json.dumps(record.__dict__, default=str))


async def test_credentials_never_reach_the_run_record_or_the_logs(http_settings, database_url):
    captured = Captured()
    # This API refuses the token, quoting it back in its 401 answer: the worst case for the run's error.
    with EchoApi(basic=(API_USER, PASSWORD), bearer="another-token-5c2d") as api:
        app = service.create_app(http_settings(api_url=api.url, log_level="INFO"))
        logging.getLogger().addHandler(captured)
        try:
            async with running(app) as client:
                await start(
                    client,
                    {"step": "subscribe", "method": "POST", "path": "/basic", "form": {"plan": "pro"}, "auth": "basic"},
                    {"step": "search", "path": "/bearer", "query": {"q": "x"}, "auth": "bearer"},
                )
                run = await finished(database_url)
        finally:
            logging.getLogger().removeHandler(captured)
    assert run["status"] == "dead"
    assert api.to("/bearer")[0].headers["authorization"] == f"Bearer {TOKEN}"  # it was sent, and quoted back
    assert "answered 401" in run["error"] and "invalid_token" in run["error"]

    recorded = {s["name"]: s["input"] for s in steps(database_url, run["id"])}
    assert recorded["subscribe"]["auth"] == "basic" and recorded["search"]["auth"] == "bearer"
    everything = [
        row["t"]
        for table in ("zaps_event", "zaps_run", "zaps_attempt", "zaps_step", "zaps_ledger")
        for row in query(database_url, f"SELECT t::text AS t FROM {table} t")
    ]
    assert any("invalid_token" in text for text in everything)  # the scan sees the rows it should
    assert captured.lines, "the service logged nothing: the log half of this test would prove nothing"
    for text in everything + captured.lines:
        assert TOKEN not in text
        assert PASSWORD not in text
