"""Foundation: test-service's start-up time, idle memory, and `GET /api/test/health` under load.

1. Start → ready: from spawning `python -m zaps.cli serve test` to `/api/test/health/ready` answering 200. One
   start on the fresh database first (it applies the migrations), then the median of 3 starts on the migrated one.
2. Idle RSS of the server process, 3 s after it became ready.
3. `GET /api/test/health` at 32 keep-alive connections for 10 s (after 1 s of warm-up): requests/s, p50 and p99.
"""

from __future__ import annotations

import os
import time

from bench.harness import (
    bench_database,
    bench_redis,
    cpu_busy,
    load,
    machine_rows,
    print_figures,
    service_env,
    service_process,
    stats_line,
)

SERVICE = "test"
STARTS = 3
SETTLE_S = 3.0
CONNECTIONS = 32
DURATION_S = 10.0


def run() -> None:
    busy = cpu_busy()
    if busy > 0.2:
        print(f"warning: the machine was {busy:.0%} busy before the run; the figures will be low and noisy", flush=True)
    redis = bench_redis()
    with bench_database() as database:
        env = service_env(database.url, redis.url)
        print(f"database: {database.description}\nredis: {redis.description}\n", flush=True)

        with service_process(SERVICE, env) as server:
            first_start = server.ready_s
        starts = []
        for _ in range(STARTS):
            with service_process(SERVICE, env) as server:
                starts.append(server.ready_s)

        with service_process(SERVICE, env) as server:
            time.sleep(SETTLE_S)
            idle_rss = server.rss_bytes()
            cpu_before, clock_before = server.cpu_seconds(), time.monotonic()
            result = load(server.url("/health"), connections=CONNECTIONS, duration_s=DURATION_S)
            server_cpu = (server.cpu_seconds() - cpu_before) / (time.monotonic() - clock_before)
            loaded_rss = server.rss_bytes()

    mib = 2**20
    rows = [
        ("start → ready, median of 3", stats_line(starts)),
        ("first start (fresh database: migrations)", f"{first_start:.2f} s"),
        ("idle RSS (3 s after ready)", f"{idle_rss / mib:.1f} MiB"),
        (f"GET /health, {CONNECTIONS} conn, {DURATION_S:.0f} s", f"{result.rps:,.0f} req/s"),
        (
            "  latency " + " / ".join(result.latency_ms),
            " / ".join(f"{v:.2f}" for v in result.latency_ms.values()) + " ms",
        ),
        ("  requests, non-2xx, errors", f"{result.requests:,}, {result.non_2xx}, {sum(result.errors.values())}"),
        ("  server CPU during the load", f"{server_cpu:.0%} of one core"),
        ("RSS after the load", f"{loaded_rss / mib:.1f} MiB"),
        ("database", database.description),
        ("Redis", redis.description),
        ("CPU busy before the run", f"{busy:.0%} of {os.cpu_count()} cores"),
        *machine_rows(result.generator),
    ]
    print_figures("Foundation (test-service)", rows)
