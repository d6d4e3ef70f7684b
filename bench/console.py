"""Console: the runs pages of services/console over a history of 1,000,000 runs.

1. Fill a throw-away database (never a kept one) with 1,000,000 runs of 8 automations spread over the last 29
   days, each with the event it references, written as the engine writes them: `INSERT ... SELECT` over
   `generate_series`, then `VACUUM ANALYZE` (what autovacuum would have done over 29 days). About 2% of the runs
   are dead, 18% filtered, the rest succeeded, a few retrying or queued; one automation is rare (0.5%).
2. Start the console as deployed (`zaps serve console`, its worker on), sign in as the admin (the password hash at
   the production cost, scrypt n=2^15), then render each page 200 times, one request at a time on one keep-alive
   connection (after 1 s of warm-up): p50, p99 and max of the full answer, HTML included.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import psycopg
from zaps.migrate import migrate
from zaps_console import passwords
from zaps_console.views import encode_cursor

from bench.harness import (
    BenchDatabase,
    BenchError,
    LoadResult,
    Row,
    ServiceProcess,
    bench_database,
    bench_redis,
    cpu_busy,
    load,
    machine_rows,
    percentiles,
    print_figures,
    service_env,
    service_process,
)

SERVICE = "console"
PREFIX = "/console"
RUNS = 1_000_000
DAYS = 29  # inside RUN_RETENTION_DAYS (30): housekeeping deletes nothing while we measure
REQUESTS = 200
WARMUP_S = 1.0
PAGE_SIZE = 50  # CONSOLE_PAGE_SIZE's default
SIGN_INS = 3
USERNAME = "admin"
COMMON = "test.big-orders"
RARE = "test.rare-report"
# name, share of the runs in thousandths (the rest of 1,000 goes to the first)
AUTOMATIONS = [
    (COMMON, 0),
    ("ringcentral.missed-calls", 250),
    ("ringcentral.voicemails", 100),
    ("ringcentral.sms", 80),
    ("test.daily-digest", 40),
    ("test.crm-sync", 30),
    ("test.slack-alerts", 15),
    (RARE, 5),
]

# Each step: statements run in one transaction, timed together.
_FILL: list[tuple[str, list[str]]] = [
    (
        "automations",
        [
            """
        INSERT INTO zaps_automation (name, service, source, trigger, max_attempts)
        SELECT name, split_part(name, '.', 1), name, '{"type": "webhook", "auth": "hmac"}', 5
        FROM unnest(%(names)s::text[]) AS name
        """
        ],
    ),
    # Two independent pseudo-random numbers per row (0-999): which automation, and which status.
    (
        "events",
        [
            """
        CREATE TEMP TABLE bench_rows AS
        SELECT i, now() - make_interval(secs => %(span_s)s * (%(runs)s - i)::float8 / %(runs)s) AS at,
               (hashint4(i) & 2147483647) %% 1000 AS pick, (hashtext(i::text || '.fate') & 2147483647) %% 1000 AS fate
        FROM generate_series(1, %(runs)s) AS i
        """,
            """
        INSERT INTO zaps_event (id, source, dedup_key, payload, headers, received_at)
        SELECT r.i, a.name, 'bench:' || r.i,
               jsonb_build_object('id', 'order-' || r.i, 'total', r.i %% 500, 'customer', 'Customer ' || r.i %% 977),
               '{"content-type": "application/json"}', r.at
        FROM bench_rows r JOIN bench_shares a ON r.pick >= a.low AND r.pick < a.high
        """,
            "SELECT setval(pg_get_serial_sequence('zaps_event', 'id'), %(runs)s)",
        ],
    ),
    (
        "runs",
        [
            """
        INSERT INTO zaps_run (id, automation, event_id, status, attempts, max_attempts, error, filter_reason,
                              code_version, created_at, started_at, finished_at, next_attempt_at)
        SELECT r.i, a.name, r.i, s.status,
               CASE WHEN s.status = 'queued' THEN 0 WHEN s.status = 'dead' THEN 5 ELSE 1 END, 5,
               CASE WHEN s.status IN ('dead', 'retrying')
                    THEN 'RetryableError: webhook target answered 503 (attempt ' || r.i %% 5 + 1 || ')' END,
               CASE WHEN s.status = 'filtered' THEN 'total ' || r.i %% 100 || ' is under 100' END,
               'abc1234', r.at,
               CASE WHEN s.status <> 'queued' THEN r.at + interval '20 milliseconds' END,
               CASE WHEN s.status IN ('succeeded', 'filtered', 'dead') THEN r.at + interval '420 milliseconds' END,
               CASE WHEN s.status = 'retrying' THEN r.at + interval '30 seconds' END
        FROM bench_rows r
        JOIN bench_shares a ON r.pick >= a.low AND r.pick < a.high
        JOIN (VALUES ('dead', 0, 20), ('retrying', 20, 22), ('queued', 22, 23), ('filtered', 23, 203),
                     ('succeeded', 203, 1000)) AS s (status, low, high)
          ON r.fate >= s.low AND r.fate < s.high
        """,
            "SELECT setval(pg_get_serial_sequence('zaps_run', 'id'), %(runs)s)",
        ],
    ),
]


def _shares() -> list[tuple[str, int, int]]:
    """Each automation's [low, high) slice of 0-999."""
    first = 1000 - sum(share for _, share in AUTOMATIONS[1:])
    slices, low = [], 0
    for name, share in AUTOMATIONS:
        size = first if name == COMMON else share
        slices.append((name, low, low + size))
        low += size
    return slices


@dataclass(frozen=True)
class Filled:
    seconds: dict[str, float]  # step → time taken
    statuses: dict[str, int]
    table_mib: float  # zaps_run + zaps_event with their indexes


def fill(database: BenchDatabase) -> Filled:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    migrate(database.url)
    seconds["migrate"] = time.perf_counter() - started
    params = {"names": [name for name, _ in AUTOMATIONS], "runs": RUNS, "span_s": DAYS * 86400}
    with psycopg.connect(database.url, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM zaps_run)").fetchone() != (False,):
            raise BenchError("the console bench fills an empty database only")
        conn.execute("CREATE TEMP TABLE bench_shares (name text, low int, high int)")
        with conn.cursor().copy("COPY bench_shares FROM STDIN") as copy:
            for row in _shares():
                copy.write_row(row)
        for step, statements in _FILL:
            started = time.perf_counter()
            with conn.transaction():
                for sql in statements:
                    conn.execute(sql, params)
            seconds[step] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE zaps_event, zaps_run, zaps_automation")
        seconds["VACUUM ANALYZE"] = time.perf_counter() - started
        rows = conn.execute("SELECT status, count(*) FROM zaps_run GROUP BY status ORDER BY count(*) DESC").fetchall()
        size = conn.execute(
            "SELECT pg_total_relation_size('zaps_run') + pg_total_relation_size('zaps_event')"
        ).fetchone()
    return Filled(seconds, {str(s): int(n) for s, n in rows}, (int(size[0]) if size else 0) / 2**20)


def cursor_at(database: BenchDatabase, offset: int, status: str | None = None) -> str:
    """The runs page cursor that shows the runs after the `offset` newest (of that status)."""
    with psycopg.connect(database.url, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT created_at, id FROM zaps_run WHERE %(status)s::text IS NULL OR status = %(status)s "
            "ORDER BY created_at DESC, id DESC OFFSET %(offset)s LIMIT 1",
            {"status": status, "offset": offset},
        ).fetchone()
    if row is None:
        raise BenchError(f"no run at offset {offset}")
    created: datetime = row[0]
    return encode_cursor(created, int(row[1]))


# ------------------------------------------------------------------------------------------------------- sign-in


def _request(
    server: ServiceProcess, method: str, path: str, *, body: str = "", headers: dict[str, str] | None = None
) -> tuple[int, str, list[str]]:
    """One request on a new connection: status, body, Set-Cookie headers."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            method, PREFIX + path, body=body.encode() or None, headers={"Accept": "text/html", **(headers or {})}
        )
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace"), response.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()


def _cookie(set_cookies: list[str], name: str) -> str | None:
    for header in set_cookies:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar and jar[name].value:
            return jar[name].value
    return None


def sign_in(server: ServiceProcess, password: str) -> tuple[str, float]:
    """Open the sign-in page, post the form as a browser does; returns the session cookie and the POST's time."""
    status, page, cookies = _request(server, "GET", "/login")
    nonce = _cookie(cookies, "zaps_console_login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if status != 200 or nonce is None or token is None:
        raise BenchError(f"the sign-in page answered {status} without its cookie or token")
    form = urlencode({"username": USERNAME, "password": password, "csrf_token": token.group(1), "next": ""})
    started = time.perf_counter()
    status, _, cookies = _request(
        server,
        "POST",
        "/login",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"zaps_console_login={nonce}"},
    )
    took = time.perf_counter() - started
    session = _cookie(cookies, "zaps_console_session")
    if status != 303 or session is None:
        raise BenchError(f"signing in answered {status} without a session cookie")
    return session, took


# --------------------------------------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    rows: int  # runs on the page (checked once before the measurement)
    result: LoadResult


def measure_page(server: ServiceProcess, session: str, name: str, path: str, expect_rows: bool) -> Page:
    headers = {"Cookie": f"zaps_console_session={session}", "Accept": "text/html"}
    status, html, _ = _request(server, "GET", path, headers=headers)
    rows = html.count('class="run-row"')
    if status != 200 or (expect_rows and rows == 0):
        raise BenchError(f"{path} answered {status} with {rows} runs")
    result = load(
        server.url(path),
        headers=headers,
        connections=1,
        warmup_s=WARMUP_S,
        duration_s=120,
        max_requests=REQUESTS,
        generator="python",
    )
    if result.non_2xx or result.errors:
        raise BenchError(f"{path}: {result.non_2xx} answers were not 2xx, errors {result.errors}")
    return Page(name, path, rows, result)


def run() -> None:
    busy = cpu_busy()
    if busy > 0.2:
        print(f"warning: the machine was {busy:.0%} busy before the run; the figures will be low and noisy", flush=True)
    redis = bench_redis()
    password = secrets.token_urlsafe(18)
    with bench_database(fresh=True) as database:
        print(f"database: {database.description}\nredis: {redis.description}\n", flush=True)
        print(f"filling {RUNS:,} runs ...", flush=True)
        filled = fill(database)
        deep = cursor_at(database, RUNS * 9 // 10)
        deep_dead = cursor_at(database, filled.statuses.get("dead", 0) * 9 // 10, "dead")
        pages_to_measure = [
            ("runs, newest (no filter)", "/runs", True),
            ("runs, status=dead", "/runs?status=dead", True),
            (f"runs, {COMMON} + dead", f"/runs?automation={COMMON}&status=dead", True),
            (f"runs, {RARE} + dead (rare)", f"/runs?automation={RARE}&status=dead", True),
            ("runs, status=dead, last 24 h", "/runs?status=dead&since=24h", True),
            ("runs, 900,000 deep by cursor", f"/runs?cursor={deep}", True),
            ("runs, status=dead, 90% deep by cursor", f"/runs?status=dead&cursor={deep_dead}", True),
            ("automations overview", "/automations", False),
        ]
        env = service_env(
            database.url,
            redis.url,
            CONSOLE_ADMIN_USERNAME=USERNAME,
            CONSOLE_ADMIN_PASSWORD_HASH=passwords.hash_password(password),
            CONSOLE_SESSION_SECRET=secrets.token_urlsafe(32),
        )
        print("measuring the pages ...\n", flush=True)
        with service_process(SERVICE, env, prefix=PREFIX) as server:
            sign_ins = [sign_in(server, password) for _ in range(SIGN_INS)]
            session = sign_ins[-1][0]
            pages = [measure_page(server, session, *page) for page in pages_to_measure]
            rss = server.rss_bytes()

    rows: list[Row] = []
    for page in pages:
        latency = page.result.latency_ms
        shown = f", {page.rows} runs shown" if page.rows else ""
        short = f", only {page.result.requests} requests" if page.result.requests < REQUESTS else ""
        rows.append(
            (
                f"{page.name}{shown}{short}: p50 / p99 / max",
                f"{latency['p50']:.1f} / {latency['p99']:.1f} / {latency['max']:.1f} ms",
            )
        )
    sign_in_ms = percentiles([took * 1000 for _, took in sign_ins], (50,))[50]
    rows += [
        ("sign-in POST (scrypt n=2^15), median of 3", f"{sign_in_ms:.0f} ms"),
        ("console RSS after the pages", f"{rss / 2**20:.1f} MiB"),
        ("runs by status", ", ".join(f"{k} {v:,}" for k, v in filled.statuses.items())),
        ("fill: " + ", ".join(filled.seconds), " / ".join(f"{v:.1f}" for v in filled.seconds.values()) + " s"),
        ("zaps_run + zaps_event with indexes", f"{filled.table_mib:,.0f} MiB"),
        ("database", database.description),
        ("Redis", redis.description),
        ("CPU busy before the run", f"{busy:.0%} of {os.cpu_count()} cores"),
        *machine_rows(pages[0].result.generator),
    ]
    title = f"Console (pages over {RUNS:,} runs; {REQUESTS} requests each, one at a time, after a warm-up)"
    print_figures(title, rows)
