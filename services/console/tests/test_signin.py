"""Sign-in, the session cookie, CSRF and the sign-in throttle, against the app in-process (real PostgreSQL, and
the real Redis when one answers)."""

import re
import time
from urllib.parse import quote

import httpx
import pytest
from console_builders import HTML, PASSWORD, PASSWORD_HASH, PREFIX, csrf_of, page_token, sign_in
from pydantic import SecretStr
from zaps.settings import Environment
from zaps.testing.apps import running
from zaps_console.service import service
from zaps_console.sessions import SESSION_COOKIE, SessionSigner


def client_from(app, ip: str) -> httpx.AsyncClient:
    """A client of the running app that connects from `ip`."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50000), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30)


async def test_the_sign_in_page_its_stylesheet_and_health_answer_without_a_session(console_settings):
    async with running(service.create_app(console_settings())) as client:
        login = await client.get(f"{PREFIX}/login", headers=HTML)
        css = await client.get(f"{PREFIX}/static/console.css")
        health = await client.get(f"{PREFIX}/health")
        ready = await client.get(f"{PREFIX}/health/ready")
    assert login.status_code == 200 and 'name="password"' in login.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (health.status_code, ready.status_code) == (200, 200)


@pytest.mark.parametrize(
    "path",
    [
        "/runs",
        "/runs?status=dead",
        "/runs/1",
        "/runs/replay",
        "/automations",
        "/",
        "/api/runs/1",
        "/static/console.js",
        "/docs",
        "/openapi.json",
        "/no-such-page",
    ],
)
async def test_nothing_else_answers_without_a_session(console_settings, path):
    async with running(service.create_app(console_settings())) as client:
        as_page = await client.get(PREFIX + path, headers=HTML)
        as_api = await client.get(PREFIX + path, headers={"accept": "application/json"})
    assert as_page.status_code == 303
    assert as_page.headers["location"] == f"{PREFIX}/login?next={quote(PREFIX + path, safe='')}"
    assert as_api.status_code == 401
    assert as_api.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "path", ["/logout", "/automations/x.y/pause", "/automations/x.y/resume", "/runs/1/replay", "/runs/replay"]
)
async def test_no_form_is_taken_without_a_session(console_settings, path):
    async with running(service.create_app(console_settings())) as client:
        answer = await client.post(PREFIX + path, data={"csrf_token": "anything"})
    assert answer.status_code == 401


async def test_signing_in_sets_a_strict_session_cookie_and_returns_to_the_page_asked_for(console_settings):
    async with running(service.create_app(console_settings())) as client:
        first = await client.get(f"{PREFIX}/runs?status=dead", headers=HTML)
        login = await client.get(first.headers["location"], headers=HTML)
        answer = await client.post(
            f"{PREFIX}/login",
            data={
                "username": "admin",
                "password": PASSWORD,
                "csrf_token": csrf_of(login.text),
                "next": "/console/runs?status=dead",
            },
        )
        cookie = answer.headers["set-cookie"]
        page = await client.get(f"{PREFIX}/runs?status=dead", headers=HTML)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/runs?status=dead"
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP outside production
    assert page.status_code == 200 and "Sign out" in page.text


async def test_the_session_cookie_is_secure_in_production(console_settings):
    settings = console_settings(environment=Environment.production, admin_token="a-real-admin-token-0123456789")
    async with running(service.create_app(settings), base_url="https://testserver") as client:
        answer = await sign_in(client)
    assert answer.status_code == 303
    assert "Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/other/path"])
async def test_after_sign_in_it_never_leaves_the_console(console_settings, next_path):
    async with running(service.create_app(console_settings())) as client:
        login = await client.get(f"{PREFIX}/login", headers=HTML)
        answer = await client.post(
            f"{PREFIX}/login",
            data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_of(login.text), "next": next_path},
        )
    assert answer.headers["location"] == f"{PREFIX}/runs"


@pytest.mark.parametrize(("username", "password"), [("admin", "wrong password"), ("root", PASSWORD), ("", "")])
async def test_a_wrong_username_or_password_is_refused_the_same_way(console_settings, username, password):
    async with running(service.create_app(console_settings())) as client:
        answer = await sign_in(client, username=username, password=password)
        after = await client.get(f"{PREFIX}/runs", headers=HTML)
    assert answer.status_code == 401
    assert "Wrong username or password." in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert after.status_code == 303


async def test_without_a_password_hash_nobody_can_sign_in(console_settings):
    async with running(service.create_app(console_settings(console_admin_password_hash=None))) as client:
        answer = await sign_in(client)
    assert answer.status_code == 503
    assert "CONSOLE_ADMIN_PASSWORD_HASH" in answer.text


async def test_the_sign_in_form_without_its_token_is_refused(console_settings):
    async with running(service.create_app(console_settings())) as client:
        await client.get(f"{PREFIX}/login", headers=HTML)  # the cookie half is there; the form half is not
        missing = await client.post(f"{PREFIX}/login", data={"username": "admin", "password": PASSWORD})
        forged = await client.post(
            f"{PREFIX}/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "forged"}
        )
    assert (missing.status_code, forged.status_code) == (403, 403)
    assert SESSION_COOKIE not in missing.headers.get("set-cookie", "")


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(console_settings, database_url):
    from console_builders import add_automation, connect

    add_automation(database_url, "shop.orders")
    async with running(service.create_app(console_settings())) as client:
        await sign_in(client)
        token = await page_token(client, "/automations")
        missing = await client.post(f"{PREFIX}/automations/shop.orders/pause", data={}, headers=HTML)
        wrong = await client.post(f"{PREFIX}/automations/shop.orders/pause", data={"csrf_token": token[:-2] + "xx"})
        with connect(database_url) as conn:
            still = conn.execute("SELECT paused FROM zaps_automation").fetchone()
        right = await client.post(f"{PREFIX}/automations/shop.orders/pause", data={"csrf_token": token})
        header = await client.post(f"{PREFIX}/automations/shop.orders/resume", headers={"x-csrf-token": token})
    assert missing.status_code == 403 and "Form refused" in missing.text
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "csrf_failed"
    assert still == {"paused": False}
    assert (right.status_code, header.status_code) == (303, 303)


async def test_every_post_route_checks_the_csrf_token(console_settings):
    """Whatever POST route is added later, the gate checks its token: none answers a signed-in POST without one."""
    app = service.create_app(console_settings())
    # The console's own routers (FastAPI 0.16x no longer flattens included routes into app.routes).
    routes = [route for router in service.routers for route in router.routes]
    posts = [route.path for route in routes if "POST" in getattr(route, "methods", set())]
    posts = [p for p in posts if p != "/login"]
    assert "/runs/replay" in posts and "/logout" in posts
    async with running(app) as client:
        await sign_in(client)
        answers = {}
        for path in posts:
            concrete = path.replace("{run_id:int}", "1").replace("{name}", "a.b")
            answers[path] = (await client.post(PREFIX + concrete)).status_code
    assert set(answers.values()) == {403}, answers


async def test_a_token_of_another_session_is_refused(console_settings):
    settings = console_settings()
    async with running(service.create_app(settings)) as first:
        await sign_in(first)
        old_token = await page_token(first)
    async with running(service.create_app(settings)) as second:
        await sign_in(second)
        answer = await second.post(f"{PREFIX}/logout", data={"csrf_token": old_token})
    assert answer.status_code == 403


async def test_signing_out_ends_the_session(console_settings):
    async with running(service.create_app(console_settings())) as client:
        await sign_in(client)
        token = await page_token(client)
        out = await client.post(f"{PREFIX}/logout", data={"csrf_token": token})
        after = await client.get(f"{PREFIX}/runs", headers=HTML)
    assert out.status_code == 303 and out.headers["location"] == f"{PREFIX}/login"
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    assert after.status_code == 303


async def test_an_expired_or_tampered_session_cookie_is_refused(console_settings):
    settings = console_settings(console_session_ttl_s=60)
    signer = SessionSigner(
        secret=settings.console_session_secret.get_secret_value(), password_hash=PASSWORD_HASH, ttl_s=60
    )
    expired, _ = signer.issue("admin", now=time.time() - 120)
    valid, _ = signer.issue("admin")
    body, mac = valid.split(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    async with running(service.create_app(settings)) as client:
        answers = []
        for cookie in (expired, tampered, valid):
            client.cookies.set(SESSION_COOKIE, cookie, path="/console")
            answers.append((await client.get(f"{PREFIX}/api/runs/1")).status_code)
            client.cookies.clear()
    assert answers == [401, 401, 404]  # the valid one gets in (and finds no run 1)


async def test_a_new_password_hash_signs_every_session_out(console_settings):
    from zaps_console import passwords

    settings = console_settings()
    async with running(service.create_app(settings)) as client:
        await sign_in(client)
        cookie = client.cookies[SESSION_COOKIE]
    new_hash = SecretStr(passwords.hash_password("another password 123", n=1024))
    changed = settings.model_copy(update={"console_admin_password_hash": new_hash})
    async with running(service.create_app(changed)) as client:
        client.cookies.set(SESSION_COOKIE, cookie, path="/console")
        answer = await client.get(f"{PREFIX}/api/runs/1")
    assert answer.status_code == 401


async def test_sign_in_attempts_are_limited_per_ip_even_with_the_right_password(console_settings):
    app = service.create_app(console_settings(console_login_attempts=3))
    async with running(app):
        async with client_from(app, "203.0.113.7") as client:
            wrong = [(await sign_in(client, password=f"guess {n}")).status_code for n in range(3)]
            blocked = await sign_in(client)
        async with client_from(app, "198.51.100.20") as elsewhere:
            other_ip = await sign_in(elsewhere)
    assert wrong == [401, 401, 401]
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
    assert "Too many sign-in attempts" in blocked.text
    assert other_ip.status_code == 303  # another IP, and the username's counter is still under the limit


async def test_sign_in_attempts_are_limited_per_username_across_ips(console_settings):
    app = service.create_app(console_settings(console_login_attempts=3, console_login_attempts_per_user=3))
    async with running(app):
        answers = []
        for n in range(4):
            async with client_from(app, f"192.0.2.{n + 1}") as client:
                answers.append((await sign_in(client, password="guess")).status_code)
        async with client_from(app, "192.0.2.99") as client:
            right_password = await sign_in(client)
    assert answers == [401, 401, 401, 429]
    assert right_password.status_code == 429


async def test_the_throttle_is_shared_by_replicas(console_settings, redis_url):
    """Two app instances (two replicas) with one Redis count the same attempts."""
    if redis_url is None:
        pytest.skip("no Redis answers on 127.0.0.1:6379: replicas would each have their own in-memory stand-in")
    settings = console_settings(console_login_attempts=2)
    one, two = service.create_app(settings), service.create_app(settings)
    async with running(one), running(two):
        async with client_from(one, "203.0.113.50") as first:
            await sign_in(first, password="guess 1")
            await sign_in(first, password="guess 2")
        async with client_from(two, "203.0.113.50") as second:
            third = await sign_in(second)
    assert third.status_code == 429


async def test_a_successful_sign_in_clears_its_counters(console_settings):
    app = service.create_app(console_settings(console_login_attempts=3))
    async with running(app), client_from(app, "203.0.113.9") as client:
        for _ in range(2):
            await sign_in(client, password="typo")
        assert (await sign_in(client)).status_code == 303
        client.cookies.clear()
        again = [(await sign_in(client, password="typo")).status_code for _ in range(3)]
    assert again == [401, 401, 401]


async def test_pages_carry_headers_that_keep_them_private(console_settings):
    async with running(service.create_app(console_settings())) as client:
        await sign_in(client)
        page = await client.get(f"{PREFIX}/runs", headers=HTML)
        script = await client.get(f"{PREFIX}/static/console.js")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert script.status_code == 200 and script.headers["cache-control"].startswith("private")
    assert not re.search(r"<script>(?!</script>)", page.text)  # no inline script: the policy would block it
