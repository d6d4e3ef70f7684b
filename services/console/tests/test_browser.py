"""The console in a real browser: headless Chromium (Debian's) driven by Playwright, against two real servers.

The engine's test service (`libs/zaps/tests/engine/engine_service.py`) runs as one process with its worker; its
runs are made by real signed webhooks and delivered to a local sink, which fails some of them on purpose. The
console runs as a second process on the same database. Replays from the console are queued on the engine
service's queue and its worker runs them, so the status change the browser watches is the real one.

UPDATE_SCREENSHOTS=1 also saves docs/console-runs.png and docs/console-run.png.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from console_builders import PASSWORD, PASSWORD_HASH, connect
from psycopg.rows import dict_row
from zaps import signing
from zaps.testing.apps import server_process
from zaps.testing.sink import Reply, Sink
from zaps.testing.waiting import sync_eventually

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium); Playwright never downloads one",
)
# No background traffic: this machine's network is closed, and a test must not depend on the outside anyway.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[3]
ENGINE_TESTS = REPO / "libs" / "zaps" / "tests" / "engine"
DOCS = REPO / "docs"
HOOK_SECRET = "hook-secret-0123456789"  # EngineSettings' default
SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS") == "1"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"  # ReDoc's "powered by" mark, hard-coded in its bundle


def post_hook(base_url: str, automation: str, payload: dict[str, object]) -> None:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "user-agent": "shop-backend/2.3", **signing.sign(HOOK_SECRET, body)}
    answer = httpx.post(f"{base_url}/api/enginetest/hooks/{automation}", content=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text


def statuses(database_url: str) -> dict[int, str]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT id, status FROM zaps_run ORDER BY id").fetchall()
    return {row["id"]: row["status"] for row in rows}


def settle(database_url: str, count: int) -> dict[int, str]:
    """Wait until `count` runs exist and every one has finished."""
    return sync_eventually(
        lambda: statuses(database_url),
        lambda found: len(found) == count and all(s in ("succeeded", "filtered", "dead") for s in found.values()),
        timeout=30,
    )


@pytest.fixture
def stack(database_url, redis_url, tmp_path):
    """The engine test service (with its worker) and the console, as real servers on 127.0.0.1."""
    common = {"DATABASE_URL": database_url, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING", "DATA_DIR": str(tmp_path)}
    if redis_url:
        common["REDIS_URL"] = redis_url
    with Sink() as sink:
        engine_env = {
            **common,
            "PATH_PREFIX": "/api/enginetest",
            "PYTHONPATH": os.pathsep.join([str(ENGINE_TESTS), os.environ.get("PYTHONPATH", "")]),
            "TARGET_URL": sink.url,
            "ZAPS_CODE_VERSION": "9f2c1e7",
        }
        console_env = {
            **common,
            "PATH_PREFIX": "/console",
            "RUN_WORKER": "false",
            "CONSOLE_ADMIN_USERNAME": "admin",
            "CONSOLE_ADMIN_PASSWORD_HASH": PASSWORD_HASH,
            "CONSOLE_SESSION_SECRET": "browser-test-session-secret-0123456789",
            "CONSOLE_GRAFANA_URL": "http://grafana.invalid:3000",
        }
        with (
            server_process("engine_service:service", engine_env) as engine,
            server_process("console", console_env) as console,
        ):
            yield {"engine": engine["base_url"], "console": console["base_url"] + "/console", "sink": sink}


def seed_runs(stack, database_url) -> None:
    """Real runs through real webhooks: 4 delivered, 1 filtered, then 3 refused by the target and 1 two-step run
    whose second step is refused (dead)."""
    engine, sink = stack["engine"], stack["sink"]
    for n in range(4):
        post_hook(engine, "forward", {"order": 1040 + n, "customer": f"customer-{n}@example.com", "total": 120 + n})
    post_hook(engine, "forward", {"order": 1044, "skip": True})
    settle(database_url, 5)
    sink.script(400, 400, 400, path="/deliver")
    for n in range(3):
        post_hook(engine, "forward", {"order": 1050 + n, "total": 99.5})
        settle(database_url, 6 + n)
    sink.script(Reply(200), Reply(422, body=b'{"error": "customer_id is required"}'))
    post_hook(engine, "two-steps", {"order": 1060, "note": "<b>rush</b> & gift wrap"})
    found = settle(database_url, 9)
    assert sorted(found.values()).count("dead") == 4


def test_sign_in_filter_open_replay_and_watch_it_finish(stack, database_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    seed_runs(stack, database_url)
    console = stack["console"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh, empty profile for this test alone
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 860},
        )
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()

            # Without a session, the runs page sends the browser to sign in, and back afterwards.
            page.goto(f"{console}/runs")
            expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Fruns$"))
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{console}/runs")
            rows = page.locator("tr.run-row")
            expect(rows).to_have_count(9)
            expect(page.locator("tr.run-row .badge", has_text="Succeeded")).to_have_count(4)
            if SCREENSHOTS:
                page.screenshot(path=str(DOCS / "console-runs.png"), full_page=True)

            # Filter to the dead runs: only those, and the bulk replay button counts them.
            page.select_option("select[name=status]", "dead")
            page.get_by_role("button", name="Show runs").click()
            expect(page).to_have_url(re.compile(r"status=dead"))
            expect(rows).to_have_count(4)
            for status in rows.evaluate_all("rows => rows.map(row => row.dataset.status)"):
                assert status == "dead"
            expect(page.get_by_role("link", name="Replay 4 dead runs")).to_be_visible()

            # Open the two-step run: its steps, its error, its payload (escaped), its logs link.
            page.get_by_role("link", name="enginetest.two-steps").first.wait_for()
            two_steps = page.locator("tr.run-row", has_text="enginetest.two-steps")
            two_steps.get_by_role("link", name=re.compile(r"^#\d+$")).click()
            expect(page.locator("#run-status")).to_contain_text("Dead")
            expect(page.locator("article.step h3")).to_have_text(["first", "second"])
            expect(page.locator("pre.payload")).to_contain_text('"note": "<b>rush</b> & gift wrap"')
            assert page.locator("pre.payload b").count() == 0  # shown as text, never as markup
            expect(page.locator(".notice.tone-bad")).to_contain_text("422")
            expect(page.locator(".facts")).to_contain_text("9f2c1e7")
            logs = page.get_by_role("link", name="Logs in Grafana").get_attribute("href")
            assert logs and logs.startswith("http://grafana.invalid:3000/explore?") and "run_id" in logs
            if SCREENSHOTS:
                page.screenshot(path=str(DOCS / "console-run.png"), full_page=True)

            # Replay it: the engine's worker runs it again (the first step is reused), and the page follows it.
            run_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
            page.get_by_role("button", name="Replay this run").click()
            expect(page.locator("#run-status")).to_contain_text("Succeeded", timeout=30_000)
            expect(page.locator("article.step .badge", has_text="Reused")).to_have_count(1)
            assert statuses(database_url)[run_id] == "succeeded"

            # Replay the three dead runs left, from the runs page, after a confirmation that says how many.
            page.goto(f"{console}/runs?status=dead")
            page.get_by_role("link", name="Replay 3 dead runs").click()
            expect(page.locator(".confirm")).to_contain_text("3 dead runs")
            page.get_by_role("button", name="Replay 3 runs").click()
            expect(page.locator(".notice.tone-ok")).to_contain_text("3 dead runs queued again")
            found = settle(database_url, 9)
            assert list(found.values()).count("dead") == 0

            # A form whose CSRF token was taken out is refused, and changes nothing.
            page.goto(f"{console}/automations")
            row = page.locator("tr", has_text="enginetest.forward")
            row.locator("input[name=csrf_token]").evaluate("input => input.remove()")
            row.get_by_role("button", name="Pause").click()
            expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
            with connect(database_url) as conn:
                paused = conn.execute("SELECT paused FROM zaps_automation WHERE name = 'enginetest.forward'").fetchone()
            assert paused == {"paused": False}

            # The same form with its token works.
            page.goto(f"{console}/automations")
            page.locator("tr", has_text="enginetest.forward").get_by_role("button", name="Pause").click()
            expect(page.locator(".notice.tone-ok")).to_contain_text("Paused enginetest.forward")

            # On a phone-sized screen, nothing needs sideways scrolling.
            page.set_viewport_size({"width": 390, "height": 844})
            for path in ("/runs", "/automations", f"/runs/{run_id}"):
                page.goto(f"{console}{path}")
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        finally:
            browser.close()

        # Without the session cookie: the API answers 401, a page sends to sign-in, the script is not served.
        anonymous = playwright.request.new_context()
        try:
            api = anonymous.get(f"{console}/api/runs/{run_id}")
            assert api.status == 401
            page_answer = anonymous.get(f"{console}/runs", headers={"accept": "text/html"}, max_redirects=0)
            assert page_answer.status == 303
            assert page_answer.headers["location"].startswith("/console/login?next=")
            assert anonymous.get(f"{console}/static/console.js").status == 401
        finally:
            anonymous.dispose()


def test_api_docs_render_offline_under_the_consoles_policy(stack, tmp_path):
    """/docs and /redoc draw the console's API from its own files: no CDN, and no script or style the page's
    Content-Security-Policy blocks (the console's strict policy once left them blank)."""
    from playwright.sync_api import expect, sync_playwright

    console = stack["console"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()
            blocked: list[str] = []

            def note_blocked(text: str) -> None:
                # ReDoc's "powered by" logo would come from Redocly's CDN: that one is blocked, as it should be.
                if "Content Security" in text and REDOC_LOGO not in text:
                    blocked.append(text)

            page.on("console", lambda message: note_blocked(message.text))
            outside: list[str] = []
            page.on(
                "request",
                lambda request: (
                    outside.append(request.url)
                    if urlsplit(request.url.removeprefix("blob:")).hostname != "127.0.0.1"
                    else None
                ),
            )
            page.goto(f"{console}/docs")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{console}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Zaps console", timeout=15_000)
            expect(page.locator(".opblock").first).to_be_visible()
            page.goto(f"{console}/redoc")
            expect(page.locator("h1").first).to_contain_text("Zaps console", timeout=15_000)
            expect(page.get_by_text("/api/runs").first).to_be_attached()
        finally:
            browser.close()
    assert blocked == []
    assert [url for url in outside if url != REDOC_LOGO] == []  # the logo is asked for, and blocked
