"""Engine: the worked example of docs/automations.md (`test.big-orders`) on a real test-service process.

1. Durable webhook ingest. Signed `POST /api/test/hooks/big-orders`, each a distinct order (so no request is a
   duplicate), 32 keep-alive connections, 2 s of warm-up, then 20 s measured: events/s, p50 and p99 of the 202.
   The worker is off (`RUN_WORKER=false`, a web-only replica as in docs/scaling.md): the figure is the ingest path
   alone, whose answer means "stored", and the worker's own cost is measured in 2. Afterwards the events in
   `zaps_event` and the queued runs are counted: both must equal the 2xx answers (warm-up included), or the bench
   fails.
2. Queue throughput, no-op. The orders of 1 total 20, under ORDERS_MINIMUM_TOTAL (100): each run ends `filtered`
   with no side effect, the cheapest honest run (fetch the job, claim the run, call the handler, record the
   outcome, finish the job). The same database is then opened by test-service with its worker on (concurrency 10,
   the default). After 2 s: finished runs per second over 10 s with the statistics the burst left, then `ANALYZE`
   (what autovacuum does within a minute, where it is on) and 20 s more, or until the backlog is done.
3. End to end. A fresh database, the worker on, orders of 250 (forwarded) at a steady 100 per second for 17 s
   (the first 2 s not counted) from an open-loop sender; the automation forwards each to a local HTTP sink
   (ORDERS_FORWARD_URL). Latency: from writing the webhook request to the sink having read the forwarded one; the
   run records say where it went (queue wait, the step, the run).
"""

from __future__ import annotations

import functools
import json
import math
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg
from zaps import signing
from zaps.engine.statuses import TERMINAL, RunStatus, sql_list

from bench.harness import (
    BenchDatabase,
    BenchError,
    HttpSink,
    LoadResult,
    PacedResult,
    Row,
    ServiceProcess,
    bench_database,
    bench_redis,
    cpu_busy,
    load,
    machine_rows,
    paced,
    percentiles,
    postgres_cpu_seconds,
    print_figures,
    service_env,
    service_process,
)

SERVICE = "test"
AUTOMATION = "test.big-orders"  # also the events' source: a webhook feeds its automation alone
HOOK = "/hooks/big-orders"
MINIMUM_TOTAL = 100.0
SMALL_TOTAL = 20.0  # filtered: no side effect
BIG_TOTAL = 250.0  # forwarded to the sink

INGEST_CONNECTIONS = 32
INGEST_WARMUP_S = 2.0
INGEST_S = 20.0
INGEST_TARGET_RPS = 1200.0
INGEST_TARGET_P99_MS = 60.0

DRAIN_WARMUP_S = 2.0
DRAIN_STALE_S = 10.0
DRAIN_S = 20.0

E2E_RATE = 100.0
E2E_WARMUP_S = 2.0
E2E_S = 15.0
E2E_STRAGGLERS_S = 60.0  # how long to wait for the last forwards once everything was sent
E2E_TARGET_P50_MS = 50.0
E2E_TARGET_P99_MS = 250.0


def signed_order(secret: str, prefix: str, total: float, n: int) -> tuple[bytes, dict[str, str]]:
    """The n-th order: a distinct body (so a distinct event), signed as the shop would sign it. Module-level, so
    `functools.partial` of it travels to the load generator's process."""
    body = json.dumps({"id": f"{prefix}-{n}", "total": total, "customer": "Bench Customer"}).encode()
    return body, {"Content-Type": "application/json", **signing.sign(secret, body)}


def _count(database_url: str, sql: str, *params: Any) -> int:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def _events(database_url: str) -> int:
    return _count(database_url, "SELECT count(*) FROM zaps_event WHERE source = %s", AUTOMATION)


QUEUED = frozenset({RunStatus.QUEUED})


def _runs(database_url: str, statuses: frozenset[RunStatus]) -> int:
    return _count(
        database_url,
        "SELECT count(*) FROM zaps_run WHERE automation = %s AND status = ANY (%s)",
        AUTOMATION,
        sql_list(statuses),
    )


def _postgres_settings(database_url: str) -> dict[str, str]:
    """What makes the figures comparable: whether a commit waits for the disk, and whether tables get analyzed."""
    settings = {}
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        for name in ("fsync", "synchronous_commit", "autovacuum"):
            row = conn.execute(f"SHOW {name}").fetchone()
            settings[name] = str(row[0]) if row else "?"
    return settings


def _cpu(server: float, postgres: float) -> str:
    return f"{server:.0%} / {postgres:.0%} of one core"


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


@dataclass(frozen=True)
class Ingest:
    result: LoadResult
    events: int  # stored by this run
    runs: int  # queued by this run
    server_cpu: float  # share of one core, during the load
    postgres_cpu: float  # the bench database's backends, share of one core

    @property
    def consistent(self) -> bool:
        return self.events == self.result.answered_2xx == self.runs


def _database_name(database: BenchDatabase) -> str:
    return urlsplit(database.url).path.lstrip("/")


def measure_ingest(database: BenchDatabase, env: dict[str, str], prefix: str, secret: str) -> Ingest:
    name = _database_name(database)
    with service_process(SERVICE, {**env, "RUN_WORKER": "false"}) as server:
        events_before = _events(database.url)
        runs_before = _runs(database.url, QUEUED)
        cpu, pg_cpu = server.cpu_seconds(), postgres_cpu_seconds(name)
        result = load(
            server.url(HOOK),
            method="POST",
            request=functools.partial(signed_order, secret, prefix, SMALL_TOTAL),
            connections=INGEST_CONNECTIONS,
            duration_s=INGEST_S,
            warmup_s=INGEST_WARMUP_S,
            generator="python",
        )
        elapsed = INGEST_WARMUP_S + result.duration_s  # the server idles while the generator starts
        server_cpu = (server.cpu_seconds() - cpu) / elapsed
        postgres_cpu = (postgres_cpu_seconds(name) - pg_cpu) / elapsed
        events = _events(database.url) - events_before
        runs = _runs(database.url, QUEUED) - runs_before
    return Ingest(result, events, runs, server_cpu, postgres_cpu)


@dataclass(frozen=True)
class Window:
    finished: int
    seconds: float
    server_cpu: float  # share of one core
    postgres_cpu: float

    @property
    def rate(self) -> float:
        return self.finished / self.seconds if self.seconds > 0 else math.nan

    def describe(self) -> str:
        return f"{self.finished:,} runs in {self.seconds:.1f} s; CPU {_cpu(self.server_cpu, self.postgres_cpu)}"


@dataclass(frozen=True)
class Drain:
    backlog: int
    stale: Window  # the statistics as the burst left them
    analyzed: Window | None  # after ANALYZE (None: the backlog was done before)
    outcomes: dict[str, int]  # every run of the automation by status, afterwards


def _drain_window(database: BenchDatabase, server: ServiceProcess, backlog: int, limit_s: float) -> Window:
    """Runs finished over `limit_s`, or until the backlog is done (sampled every 0.25 s)."""
    name = _database_name(database)
    done_before = done = _runs(database.url, TERMINAL)
    cpu, pg_cpu, started = server.cpu_seconds(), postgres_cpu_seconds(name), time.monotonic()
    for _ in range(int(limit_s / 0.25) + 1):
        time.sleep(0.25)
        done = _runs(database.url, TERMINAL)
        if time.monotonic() - started >= limit_s or done >= backlog:
            break
    seconds = time.monotonic() - started
    _check_server(server)
    return Window(
        done - done_before,
        seconds,
        (server.cpu_seconds() - cpu) / seconds,
        (postgres_cpu_seconds(name) - pg_cpu) / seconds,
    )


def measure_drain(database: BenchDatabase, env: dict[str, str]) -> Drain:
    backlog = _runs(database.url, QUEUED)
    if backlog == 0:
        raise BenchError("no queued run to drain (the ingest stored none)")
    with service_process(SERVICE, {**env, "RUN_WORKER": "true"}) as server:
        time.sleep(DRAIN_WARMUP_S)
        stale = _drain_window(database, server, backlog, DRAIN_STALE_S)
        analyzed = None
        if _runs(database.url, TERMINAL) < backlog:
            with psycopg.connect(database.url, autocommit=True, connect_timeout=10) as conn:
                conn.execute("ANALYZE")  # what autovacuum does within a minute of the burst, where it is on
            analyzed = _drain_window(database, server, backlog, DRAIN_S)
    with psycopg.connect(database.url, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM zaps_run WHERE automation = %s GROUP BY status ORDER BY status", (AUTOMATION,)
        ).fetchall()
    return Drain(backlog, stale, analyzed, {str(s): int(c) for s, c in rows})


@dataclass(frozen=True)
class EndToEnd:
    sent: PacedResult
    warm: int  # events of the warm-up (the first ones), not counted
    latencies_s: list[float]  # webhook sent → sink read the forwarded order, for the measured events that arrived
    lost: int  # measured events answered 2xx but never forwarded (within the straggler wait)
    duplicates: int  # forwards beyond the first per order
    server_cpu: float
    stages_ms: dict[str, tuple[float, float]]  # from the run records: stage → (p50, p99)

    @property
    def measured(self) -> int:
        return len(self.sent.statuses) - self.warm

    @property
    def unanswered(self) -> int:
        return sum(1 for status in self.sent.statuses[self.warm :] if not 200 <= status < 300)


# Where the time of a forwarded order goes, from the engine's own records (database clocks: `created_at` is the
# ingest transaction's start, `started_at` the claim's, `finished_at` the outcome's).
_STAGES = """
SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM r.started_at - r.created_at))
           AS queue,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY s.duration_ms / 1000) AS step,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM r.finished_at - r.started_at))
           AS run
FROM zaps_run r
JOIN zaps_event e ON e.id = r.event_id
LEFT JOIN zaps_step s ON s.run_id = r.id AND s.name = 'forward-order'
WHERE r.automation = %s AND e.payload->>'id' LIKE %s AND substring(e.payload->>'id' FROM '(\\d+)$')::int >= %s
"""
STAGE_NAMES = {
    "queue": "stored → claimed by the worker (queue wait)",
    "step": "forward-order step (ledger + POST to the sink)",
    "run": "claimed → outcome recorded (whole run)",
}


def measure_end_to_end(database: BenchDatabase, env: dict[str, str], prefix: str, secret: str) -> EndToEnd:
    warm = round(E2E_RATE * E2E_WARMUP_S)
    count = warm + round(E2E_RATE * E2E_S)
    with HttpSink() as sink:
        e2e_env = {**env, "RUN_WORKER": "true", "ORDERS_FORWARD_URL": f"{sink.url}/orders"}
        with service_process(SERVICE, e2e_env) as server:
            time.sleep(1.0)  # the worker is listening
            cpu = server.cpu_seconds()
            sent = paced(
                server.url(HOOK),
                functools.partial(signed_order, secret, prefix, BIG_TOTAL),
                rate_per_s=E2E_RATE,
                count=count,
            )
            accepted = sum(1 for status in sent.statuses if 200 <= status < 300)
            deadline = time.monotonic() + E2E_STRAGGLERS_S
            while len(sink.requests) < accepted and time.monotonic() < deadline:
                time.sleep(0.1)
            cpu = server.cpu_seconds() - cpu
            _check_server(server)
        received = list(sink.requests)
    # From the first send to the last answer or forward (one clock for both processes): the server's busy time.
    ends = [at for at in sent.answered_at if not math.isnan(at)] + [request.at for request in received]
    server_cpu = cpu / (max(ends, default=sent.due_at[0] + 1) - sent.due_at[0])
    arrived: dict[str, float] = {}
    duplicates = 0
    for request in received:
        order = str(json.loads(request.body).get("order_id"))
        if order in arrived:
            duplicates += 1
        else:
            arrived[order] = request.at
    latencies, lost = [], 0
    for n in range(warm, count):
        if not 200 <= sent.statuses[n] < 300:
            continue  # never accepted: counted as unanswered, not as lost
        at = arrived.get(f"{prefix}-{n}")
        if at is None:
            lost += 1
        else:
            latencies.append(at - sent.sent_at[n])
    with psycopg.connect(database.url, connect_timeout=10) as conn:
        row = conn.execute(_STAGES, (AUTOMATION, f"{prefix}-%", warm)).fetchone()
    stages = {}
    for index, key in enumerate(STAGE_NAMES):
        if row and row[index]:
            p50, p99 = row[index]
            stages[key] = (float(p50) * 1000, float(p99) * 1000)
    return EndToEnd(sent, warm, latencies, lost, duplicates, server_cpu, stages)


def _check_server(server: ServiceProcess) -> None:
    if server.process.poll() is not None:
        raise BenchError(f"test-service exited with {server.process.returncode}:\n{server.log_tail()}")


def run() -> None:
    busy = cpu_busy()
    if busy > 0.2:
        print(f"warning: the machine was {busy:.0%} busy before the run; the figures will be low and noisy", flush=True)
    redis = bench_redis()
    secret = secrets.token_urlsafe(24)
    prefix = f"bench-{secrets.token_hex(4)}"  # order ids no earlier run used, should the database be kept
    if os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL"):
        print("warning: a kept database: the end-to-end run shares its worker with the ingest's backlog", flush=True)

    with bench_database() as database:
        print(f"database: {database.description}\nredis: {redis.description}\n", flush=True)
        settings = _postgres_settings(database.url)
        env = service_env(
            database.url,
            redis.url,
            ORDERS_WEBHOOK_SECRET=secret,
            ORDERS_MINIMUM_TOTAL=f"{MINIMUM_TOTAL:g}",
            ORDERS_FORWARD_URL="http://127.0.0.1:9/unused",  # small orders are filtered: nothing is sent
        )
        print("1. ingest (worker off) ...", flush=True)
        ingest = measure_ingest(database, env, prefix, secret)
        print("2. queue throughput (worker on, the ingest's backlog) ...", flush=True)
        drain = measure_drain(database, env)
    busy_e2e = cpu_busy()
    with bench_database() as database:
        env = service_env(
            database.url, redis.url, ORDERS_WEBHOOK_SECRET=secret, ORDERS_MINIMUM_TOTAL=f"{MINIMUM_TOTAL:g}"
        )
        print("3. end to end (worker on, 100 events/s) ...\n", flush=True)
        e2e = measure_end_to_end(database, env, prefix + "-e2e", secret)

    rows = [*_ingest_rows(ingest, settings), *_drain_rows(drain, settings), *_e2e_rows(e2e)]
    rows += [
        ("database", "a fresh one per part, on the server at 127.0.0.1:5432 unless BENCH_DATABASE_URL is set"),
        ("Redis", redis.description),
        ("CPU busy before the run / before part 3", f"{busy:.0%} / {busy_e2e:.0%} of {os.cpu_count()} cores"),
        *machine_rows(f"{ingest.result.generator}; part 3: {e2e.sent.generator}"),
    ]
    print_figures("Engine (test-service, the worked example test.big-orders)", rows)
    problems = []
    if not ingest.consistent:
        problems.append(
            f"ingest: {ingest.result.answered_2xx:,} 2xx answers but {ingest.events:,} events stored and "
            f"{ingest.runs:,} runs queued (errors: {ingest.result.errors or 'none'})"
        )
    if e2e.lost or e2e.duplicates:
        problems.append(f"end to end: {e2e.lost} accepted orders never forwarded, {e2e.duplicates} forwarded twice")
    if problems:
        raise BenchError("; ".join(problems))


def _ingest_rows(ingest: Ingest, settings: dict[str, str]) -> list[Row]:
    result = ingest.result
    p99 = result.latency_ms["p99"]
    errors = sum(result.errors.values())
    return [
        (
            f"webhook ingest, {INGEST_CONNECTIONS} conn, {INGEST_S:.0f} s, worker off",
            f"{result.rps:,.0f} events/s",
            f"≥ {INGEST_TARGET_RPS:,.0f} events/s: {_verdict(result.rps >= INGEST_TARGET_RPS)}",
        ),
        (
            "  answer latency p50 / p90 / p99 / max",
            " / ".join(f"{v:.1f}" for v in result.latency_ms.values()) + " ms",
            f"p99 ≤ {INGEST_TARGET_P99_MS:.0f} ms: {_verdict(p99 <= INGEST_TARGET_P99_MS)}",
        ),
        ("  measured requests, non-2xx, errors", f"{result.requests:,}, {result.non_2xx}, {errors}"),
        (
            "  2xx answers / events stored / runs queued (warm-up included)",
            f"{result.answered_2xx:,} / {ingest.events:,} / {ingest.runs:,}",
            "all equal: " + ("yes" if ingest.consistent else "NO"),
        ),
        ("  CPU: test-service / its PostgreSQL backends", _cpu(ingest.server_cpu, ingest.postgres_cpu)),
        ("  PostgreSQL fsync, synchronous_commit", f"{settings['fsync']}, {settings['synchronous_commit']}"),
    ]


def _drain_rows(drain: Drain, settings: dict[str, str]) -> list[Row]:
    rows: list[Row] = []
    if drain.analyzed is not None:
        rows += [
            ("queue: no-op runs (filtered), worker on", f"{drain.analyzed.rate:,.0f} jobs/s", "no target"),
            ("  measured (after ANALYZE)", drain.analyzed.describe()),
        ]
    rows += [
        (
            "  the first 10 s, statistics as the burst left them",
            f"{drain.stale.rate:,.0f} jobs/s: " + drain.stale.describe(),
        ),
        ("  PostgreSQL autovacuum", settings["autovacuum"]),
        (
            "  backlog; runs afterwards by status",
            f"{drain.backlog:,}; " + ", ".join(f"{k} {v:,}" for k, v in drain.outcomes.items()),
        ),
    ]
    return rows


def _e2e_rows(e2e: EndToEnd) -> list[Row]:
    rows: list[Row] = []
    if e2e.latencies_s:
        points = percentiles([s * 1000 for s in e2e.latencies_s], (50, 90, 99, 100))
        rows += [
            (
                f"end to end at {E2E_RATE:.0f} events/s, p50",
                f"{points[50]:.1f} ms",
                f"≤ {E2E_TARGET_P50_MS:.0f} ms: {_verdict(points[50] <= E2E_TARGET_P50_MS)}",
            ),
            (
                "  p99",
                f"{points[99]:.1f} ms",
                f"≤ {E2E_TARGET_P99_MS:.0f} ms: {_verdict(points[99] <= E2E_TARGET_P99_MS)}",
            ),
            ("  p90 / max", f"{points[90]:.1f} / {points[100]:.1f} ms"),
        ]
    else:
        rows.append((f"end to end at {E2E_RATE:.0f} events/s", "nothing arrived"))
    answers = e2e.sent.latencies_s(e2e.warm)
    answer = percentiles([s * 1000 for s in answers], (50, 99)) if answers else {}
    statuses = Counter(e2e.sent.statuses[e2e.warm :])
    rows += [
        (
            "  events measured, forwarded, unanswered, lost, duplicated",
            f"{e2e.measured:,}, {len(e2e.latencies_s):,}, {e2e.unanswered}, {e2e.lost}, {e2e.duplicates}",
        ),
        *(
            (f"  {STAGE_NAMES[key]}, p50 / p99", f"{p50:.1f} / {p99:.1f} ms")
            for key, (p50, p99) in e2e.stages_ms.items()
        ),
        (
            "  webhook answer (sent → 202), p50 / p99",
            f"{answer[50]:.1f} / {answer[99]:.1f} ms" if answer else "no answer",
        ),
        (
            "  answers by status (0: none); sends late by > 5 ms",
            ", ".join(f"{k}: {v:,}" for k, v in sorted(statuses.items())) + f"; {e2e.sent.late(e2e.warm)}",
        ),
        ("  sender errors", ", ".join(f"{k}: {v}" for k, v in e2e.sent.errors.items()) or "none"),
        ("  CPU: test-service", f"{e2e.server_cpu:.0%} of one core"),
    ]
    return rows
