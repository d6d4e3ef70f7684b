"""The worked example of docs/automations.md, end to end: a signed webhook in, a filter, a webhook out."""

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from test_service.service import service
from test_service.settings import Settings
from zaps import signing
from zaps.testing.apps import running, server_process
from zaps.testing.sink import Sink
from zaps.testing.waiting import eventually, sync_eventually

DOCS = Path(__file__).parents[3] / "docs" / "automations.md"
SECRET = "orders-secret-for-tests"


def runs(database_url):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM zaps_run WHERE automation = 'test.big-orders' ORDER BY id").fetchall()


async def send(client, order):
    body = json.dumps(order).encode()
    return await client.post(
        "/api/test/hooks/big-orders",
        content=body,
        headers={"content-type": "application/json", **signing.sign(SECRET, body)},
    )


async def test_big_orders_are_forwarded_once_and_small_ones_filtered(make_settings, database_url):
    with Sink() as sink:
        settings = make_settings(Settings, orders_webhook_secret=SECRET, orders_forward_url=sink.url + "/orders")
        async with running(service.create_app(settings)) as client:
            big = await send(client, {"id": "A-1", "total": 250, "customer": "Ada"})
            small = await send(client, {"id": "A-2", "total": 20, "customer": "Bob"})
            again = await send(client, {"id": "A-1", "total": 250, "customer": "Ada"})
            done = await eventually(
                lambda: asyncio.to_thread(runs, database_url),
                lambda rows: len(rows) == 2 and all(r["status"] in ("succeeded", "filtered") for r in rows),
            )
    assert (big.status_code, small.status_code, again.status_code) == (202, 202, 200)
    assert [r["status"] for r in done] == ["succeeded", "filtered"]
    assert done[1]["filter_reason"] == "total 20 is under 100"
    (forwarded,) = sink.to("/orders")
    assert forwarded.json == {"order_id": "A-1", "total": 250.0, "customer": "Ada"}


def _shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")), reason="needs curl and openssl")
def test_the_curl_command_in_the_docs_triggers_a_run(database_url):
    """The signed-webhook snippet of docs/automations.md, run as written against a real server."""
    snippet = next(block for block in _shell_blocks(DOCS.read_text()) if "X-Zaps-Signature" in block)
    env = {"DATABASE_URL": database_url, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING", "RUN_WORKER": "true"}
    # The order goes to a sink of this test's own, never to a developer's `make dev` on port 8000.
    with Sink() as sink, server_process("test", {**env, "ORDERS_FORWARD_URL": sink.url + "/orders"}) as server:
        script = snippet.replace("http://localhost:8000", server["base_url"])
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "ORDERS_WEBHOOK_SECRET": "changeme"},
        )
        assert result.returncode == 0, result.stderr
        assert '"runs":1' in result.stdout.replace(" ", "")
        sync_eventually(lambda: runs(database_url), lambda rows: rows and rows[0]["status"] != "queued")


def test_the_docs_show_the_code_as_it_is():
    """The worked example and the service's list of automation modules, as docs/automations.md prints them."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    package = Path(__file__).parents[1] / "src" / "test_service"
    automation = next(block for block in blocks if "async def big_orders" in block)
    registration = next(block for block in blocks if "automations=[" in block)
    assert automation in (package / "automations.py").read_text()
    assert registration in (package / "service.py").read_text()


def test_the_unit_test_example_in_the_docs_is_the_one_the_suite_runs():
    """docs/automations.md ("Try an automation") shows test_big_orders_unit.py whole: the suite runs that file."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    shown = next(block for block in blocks if "try_handler(big_orders" in block)
    assert shown == (Path(__file__).parent / "test_big_orders_unit.py").read_text()
