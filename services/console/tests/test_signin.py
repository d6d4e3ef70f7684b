"""Sign-in, the session cookie, CSRF and the sign-in throttle, against the app in-process (real PostgreSQL, and
the real Redis when one answers)."""

import asyncio
import re
import secrets
import time
from collections import Counter
from urllib.parse import quote

import httpx
import pytest
from console_builders import HTML, PASSWORD, PASSWORD_HASH, PREFIX, connect, csrf_of, page_token, sign_in
from pydantic import SecretStr
from zaps.settings import Environment
from zaps.testing.apps import running
from zaps_console.service import service
from zaps_console.sessions import SESSION_COOKIE, SessionSigner
from zaps_console.throttle import LoginThrottle


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
    "path",
    [
        "/logout",
        "/logout/everywhere",
        "/automations/x.y/pause",
        "/automations/x.y/resume",
        "/runs/1/replay",
        "/runs/replay",
    ],
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


async def test_an_expired_or_tampered_session_cookie_is_refused(console_settings, database_url):
    settings = console_settings(console_session_ttl_s=60)
    signer = SessionSigner(
        secret=settings.console_session_secret.get_secret_value(), password_hash=PASSWORD_HASH, ttl_s=60
    )
    expired, _ = signer.issue("admin", now=time.time() - 120)
    valid, session = signer.issue("admin")
    record_session(database_url, session)
    body, mac = valid.split(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    async with running(service.create_app(settings)) as client:
        answers = []
        for cookie in (expired, tampered, valid):
            client.cookies.set(SESSION_COOKIE, cookie, path="/console")
            answers.append((await client.get(f"{PREFIX}/api/runs/1")).status_code)
            client.cookies.clear()
    assert answers == [401, 401, 404]  # the valid one gets in (and finds no run 1)


def record_session(database_url, session) -> None:
    """The server-side record a sign-in writes."""
    with connect(database_url) as conn:
        conn.execute(
            "INSERT INTO zaps_console_session (id, username, expires_at) VALUES (%s, %s, to_timestamp(%s))",
            (session.record_id, session.username, session.expires_at),
        )


async def test_a_signed_cookie_without_its_server_side_record_is_refused(console_settings):
    settings = console_settings()
    signer = SessionSigner(
        secret=settings.console_session_secret.get_secret_value(), password_hash=PASSWORD_HASH, ttl_s=3600
    )
    forged_but_signed, _ = signer.issue("admin")  # as if the secret leaked: still no session on the server
    async with running(service.create_app(settings)) as client:
        client.cookies.set(SESSION_COOKIE, forged_but_signed, path="/console")
        answer = await client.get(f"{PREFIX}/api/runs/1")
    assert answer.status_code == 401


async def test_after_signing_out_the_old_cookie_is_refused_by_the_server(console_settings, database_url):
    from console_builders import add_automation, add_run

    add_automation(database_url, "shop.orders")
    run_id = add_run(database_url, "shop.orders", "dead")
    async with running(service.create_app(console_settings())) as client:
        await sign_in(client)
        cookie = client.cookies[SESSION_COOKIE]
        token = await page_token(client)
        out = await client.post(f"{PREFIX}/logout", data={"csrf_token": token})
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, cookie, path="/console")  # a copy kept by whoever saw the cookie
        page = await client.get(f"{PREFIX}/api/runs/{run_id}")
        replay = await client.post(f"{PREFIX}/runs/{run_id}/replay", data={"csrf_token": token})
    assert out.status_code == 303
    assert page.status_code == 401
    assert replay.status_code == 401
    with connect(database_url) as conn:
        assert conn.execute("SELECT status FROM zaps_run WHERE id = %s", (run_id,)).fetchone() == {"status": "dead"}


async def test_signing_out_everywhere_ends_every_session_of_the_admin(console_settings):
    app = service.create_app(console_settings())
    async with running(app), client_from(app, "203.0.113.1") as laptop, client_from(app, "203.0.113.2") as phone:
        await sign_in(laptop)
        await sign_in(phone)
        before = (await phone.get(f"{PREFIX}/api/runs/1")).status_code
        token = await page_token(laptop)
        out = await laptop.post(f"{PREFIX}/logout/everywhere", data={"csrf_token": token})
        phone_after = (await phone.get(f"{PREFIX}/api/runs/1")).status_code
        laptop_after = (await laptop.get(f"{PREFIX}/api/runs/1")).status_code
        again = await sign_in(phone)
    assert before == 404  # signed in (no run 1)
    assert out.status_code == 303 and out.headers["location"] == f"{PREFIX}/login"
    assert (phone_after, laptop_after) == (401, 401)
    assert again.status_code == 303  # signing in again works


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


async def test_after_the_free_attempts_the_right_password_waits_too(console_settings):
    app = service.create_app(console_settings(console_login_attempts=3))
    async with running(app), client_from(app, "203.0.113.7") as client:
        wrong = [(await sign_in(client, password=f"guess {n}")).status_code for n in range(3)]
        blocked = await sign_in(client)
        await asyncio.sleep(int(blocked.headers["retry-after"]) + 0.1)
        after_the_wait = await sign_in(client)
    assert wrong == [401, 401, 401]
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "1"  # the first wait; it doubles with each further failure
    assert "Too many sign-in attempts" in blocked.text
    assert after_the_wait.status_code == 303  # a delay, not a lockout


async def test_the_wait_doubles_with_each_failure_and_a_refused_try_does_not_add_to_it(redis_url):
    from zaps import cache

    client = cache.create_redis(redis_url)
    throttle = LoginThrottle(client, free=1, max_delay_s=60, window_s=60, prefix=f"test:{secrets.token_hex(8)}")
    try:
        first = await throttle.attempt(pair_key="k")
        refused = [await throttle.attempt(pair_key="k") for _ in range(3)]
        await asyncio.sleep(1.1)
        second = await throttle.attempt(pair_key="k")
        refused_again = await throttle.attempt(pair_key="k")
    finally:
        await client.aclose()
    assert first.allowed
    assert [v.retry_after_s for v in refused] == [1, 1, 1] and not any(v.allowed for v in refused)
    assert second.allowed
    assert (refused_again.allowed, refused_again.retry_after_s) == (False, 2)


async def test_someone_else_s_failures_never_slow_the_owner_at_his_own_address(console_settings):
    app = service.create_app(console_settings(console_login_attempts=3))
    async with running(app):
        async with client_from(app, "198.51.100.66") as stranger:
            answers = Counter([(await sign_in(stranger, password=f"guess {n}")).status_code for n in range(25)])
        async with client_from(app, "192.0.2.10") as owner:
            right_password = await sign_in(owner)
    assert answers[429] >= 20  # the stranger is slowed down…
    assert right_password.status_code == 303  # …the owner at his own address is not


async def test_guessing_usernames_from_one_address_is_slowed_like_guessing_passwords(console_settings):
    app = service.create_app(console_settings(console_login_attempts=3))
    async with running(app), client_from(app, "198.51.100.67") as client:
        answers = [(await sign_in(client, username=f"user{n}", password="guess")).status_code for n in range(4)]
        admin = await sign_in(client)  # the admin's own name is its own bucket
    assert answers == [401, 401, 401, 429]
    assert admin.status_code == 303


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(console_settings):
    untrusted = service.create_app(console_settings(console_login_attempts=2))
    async with running(untrusted), client_from(untrusted, "198.51.100.70") as client:
        answers = []
        for n in range(3):  # a new forged address each time cannot escape the throttle
            spoofed = {"x-forwarded-for": f"192.0.2.{n + 1}"}
            answers.append((await sign_in(client, password="guess", headers=spoofed)).status_code)
    assert answers == [401, 401, 429]

    proxied = service.create_app(console_settings(console_login_attempts=2, trusted_proxies="10.0.0.0/8"))
    async with running(proxied), client_from(proxied, "10.0.0.2") as traefik:
        stranger = {"x-forwarded-for": "198.51.100.71"}
        strangers = [(await sign_in(traefik, password="guess", headers=stranger)).status_code for _ in range(3)]
        owner = await sign_in(traefik, headers={"x-forwarded-for": "192.0.2.200"})
    assert strangers == [401, 401, 429]
    assert owner.status_code == 303  # the proxy's word on the client's address is taken, and it is another one


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
