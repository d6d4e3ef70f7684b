"""RingCentral: what an idle poll costs, how soon a finished call reaches its action, and a 10,000-call backfill.

Everything runs against the RingCentral simulator, a real HTTP server on 127.0.0.1 in a thread of this process.

1. Requests per idle poll. A RingCentralClient on the simulator (its rate limits lifted, so nothing is throttled;
   the shared token and budgets in Redis as in the service): a few calls and SMS, the simulator's clock moved on
   10 s (past message-sync's 5 s overlap), a first full sync of each stream, then 20 idle polls of each
   (`poll_calls`, `poll_messages`). The RingCentral requests they caused come from the simulator's counter, token
   grants apart. Target: one request per stream per poll.
2. Call → action. `zaps serve ringcentral` as a real process on a fresh database, polling the simulator (default
   limits: call-log-sync is Heavy, 10 requests a minute) every 7 s, RINGCENTRAL_POLL_INTERVAL_SECONDS at its
   minimum, with one automation: on call.completed, a webhook to a local HTTP sink. After the first sync, 20 calls
   are added at random moments over 120 s, longer than one cycle of the Heavy budget (a shorter run may end before
   the budget runs out); the latency runs from adding a call to the sink reading its webhook. Target: p99 and max
   within the poll interval + 1 s. The call-log polls are timed as the simulator answers them.
3. Backfill. After a first sync, 10,000 calls end at once; the next `poll_calls` has its ISync refused (more than
   250 changes wait), so it runs an FSync and reads the call log page by page (1,000 a page). That poll runs in a
   child process, so its CPU and peak RSS are its own (the simulator stays here), with the Heavy limit lifted;
   records/s (the median of 3 runs), and every call id must have given exactly one call.completed event, or the
   bench fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import multiprocessing
import os
import random
import re
import resource
import secrets
import statistics
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import redis as sync_redis
import redis.asyncio as async_redis
from pydantic import SecretStr
from ringcentral_service.client import MAX_PER_PAGE, MAX_SYNC_RECORDS, RingCentralClient
from ringcentral_service.events import CALL_COMPLETED
from ringcentral_service.pollers import poll_calls, poll_messages
from ringcentral_service.settings import HEAVY_REQUESTS_PER_MINUTE, MIN_POLL_INTERVAL_S, Settings
from ringcentral_service.simulator import GroupLimit, RunningSimulator, Simulator, SimulatorConfig, serve_in_thread
from ringcentral_service.simulator.answers import Exchange
from ringcentral_service.simulator.config import default_limits
from ringcentral_service.store import namespace_for
from zaps import PollResult
from zaps.settings import Environment
from zaps.testing.sink import Sink

from bench.harness import (
    BenchDatabase,
    BenchError,
    BenchRedis,
    Row,
    ServiceProcess,
    bench_database,
    bench_redis,
    cpu_busy,
    machine_rows,
    percentiles,
    print_figures,
    service_env,
    service_process,
)

SERVICE = "ringcentral"
SIM = SimulatorConfig()  # the credentials the simulator accepts
LIFTED = {**default_limits(), "Heavy": GroupLimit(1_000_000), "Light": GroupLimit(1_000_000)}

IDLE_POLLS = 20
SEED_CALLS = 20
SEED_MESSAGES = 20
CLOCK_STEP_S = 10.0  # past message-sync's 5 s overlap: the seeded messages do not come back in the idle polls

POLL_INTERVAL_S = MIN_POLL_INTERVAL_S  # 7 s: the fastest that leaves the Heavy budget a request a minute
LATENCY_CALLS = 20
LATENCY_SPREAD_S = 120.0
LATENCY_TARGET_S = POLL_INTERVAL_S + 1.0
FIRST_SYNC_TIMEOUT_S = 30.0
STRAGGLERS_S = 90.0  # after the last call: a poll held by a spent Heavy budget waits up to a 60 s window
AUTOMATION = "bench-calls"
AUTOMATIONS_TOML = """
[[automation]]
name = "{name}"
on = "call.completed"
[automation.webhook]
url = "{url}"
"""

BACKFILL_CALLS = 10_000
BACKFILL_RUNS = 3  # the median is printed: other work on the machine moves a one-second figure a lot
BACKFILL_LIMIT_S = 300.0  # the child process is stopped after this

Poll = Callable[[RingCentralClient, Settings, Any, datetime], Awaitable[PollResult]]


def _settings(base_url: str) -> Settings:
    return Settings(
        environment=Environment.test,
        log_level="WARNING",
        ringcentral_server_url=base_url,
        ringcentral_media_url=base_url,
        ringcentral_client_id=SIM.client_id,
        ringcentral_client_secret=SecretStr(SIM.client_secret),
        ringcentral_jwt=SecretStr(SIM.jwt),
        _env_file=None,
    )


def _redis_client(url: str | None) -> async_redis.Redis | None:
    return async_redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) if url else None


def _forget(redis_url: str | None, namespace: str) -> None:
    """Delete what the RingCentral clients kept in Redis under `namespace` (token, budgets, lock)."""
    if not redis_url:
        return
    with contextlib.suppress(sync_redis.RedisError, OSError):
        client = sync_redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _requests(simulator: Simulator) -> tuple[int, int]:
    """RingCentral requests the simulator answered so far: (all but token grants, token grants)."""
    by_operation: dict[str, int] = simulator.counts()["by_operation"]
    grants = by_operation.get("getToken", 0)
    return sum(by_operation.values()) - grants, grants


def _clock_exchanges(simulator: Simulator) -> list[tuple[float, str, int]]:
    """From now on, (monotonic time, operation, status) of each answer the simulator records."""
    seen: list[tuple[float, str, int]] = []
    record = simulator.record

    def clocked(exchange: Exchange) -> None:
        seen.append((time.monotonic(), exchange.operation, exchange.status))
        record(exchange)

    simulator.record = clocked  # type: ignore[method-assign]
    return seen


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} / {max(values) * 1000:.1f} ms"


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


# ------------------------------------------------------------------------------------------- 1. idle polls


@dataclass(frozen=True)
class IdleStream:
    first_requests: int  # the first (full) sync
    polls: int
    requests: int  # by the idle polls, token grants apart
    grants: int
    events: int
    seconds: list[float]  # each idle poll


async def _idle_polls(sim: RunningSimulator, redis_url: str | None, namespace: str) -> dict[str, IdleStream]:
    simulator = sim.simulator
    settings = _settings(sim.base_url)
    simulator.add_calls(SEED_CALLS, direction="Inbound", result="Accepted")
    for n in range(SEED_MESSAGES):
        simulator.add_message(type="SMS", direction="Inbound", text=f"bench message {n}")
    simulator.advance(CLOCK_STEP_S)
    redis_client = _redis_client(redis_url)
    client = RingCentralClient.from_settings(settings, redis_client, namespace=namespace)
    streams: list[tuple[str, Poll]] = [("calls", poll_calls), ("messages", poll_messages)]
    found: dict[str, IdleStream] = {}
    try:
        for stream, poll in streams:
            before, _ = _requests(simulator)
            first = await poll(client, settings, None, datetime.now(UTC))
            after_first, grants_before = _requests(simulator)
            cursor, events, seconds = first.cursor, 0, []
            for _ in range(IDLE_POLLS):
                started = time.perf_counter()
                result = await poll(client, settings, cursor, datetime.now(UTC))
                seconds.append(time.perf_counter() - started)
                cursor, events = result.cursor, events + len(result.events)
            after, grants_after = _requests(simulator)
            found[stream] = IdleStream(
                after_first - before, IDLE_POLLS, after - after_first, grants_after - grants_before, events, seconds
            )
    finally:
        await client.aclose()
        if redis_client is not None:
            await redis_client.aclose()
    return found


def measure_idle(redis: BenchRedis) -> dict[str, IdleStream]:
    namespace = f"zaps:bench:ringcentral:{secrets.token_hex(6)}"
    with serve_in_thread(SimulatorConfig(rate_limits=dict(LIFTED))) as sim:
        try:
            return asyncio.run(_idle_polls(sim, redis.url, namespace))
        finally:
            _forget(redis.url, namespace)


# ------------------------------------------------------------------------------------------- 2. call → action


@dataclass(frozen=True)
class Latency:
    added: int
    latencies_s: list[float]  # call added → its webhook read by the sink, for the calls that arrived
    missing: int
    duplicates: int
    ready_s: float
    window_s: float  # from the first call added to the last webhook (or the straggler deadline)
    heavy_peak: int  # the most call-log requests the simulator answered within any 60 s of the run
    throttled: int  # 429 answers, the whole run
    poll_gaps_s: list[float]  # between consecutive call-log polls in the window, as the simulator answered them
    after_poll_s: list[float]  # the call-log poll that carried a call answered → its webhook at the sink
    budget_waits_s: list[float]  # the service's log: each request held for its rate budget, and for how long
    poll_failures: int  # the service's log: polls that failed


def _arrivals(sink: Sink) -> tuple[dict[str, float], int]:
    """First arrival per call id at the sink, and the webhooks beyond the first per call."""
    first: dict[str, float] = {}
    duplicates = 0
    for request in list(sink.requests):
        try:
            call_id = str(json.loads(request.body).get("id"))
        except (ValueError, AttributeError):
            continue
        if call_id in first:
            duplicates += 1
        else:
            first[call_id] = request.at
    return first, duplicates


def _most_in_a_window(times: list[float], window_s: float = 60.0) -> int:
    ordered = sorted(times)
    return max((sum(1 for later in ordered if at <= later < at + window_s) for at in ordered), default=0)


def _check_server(server: ServiceProcess) -> None:
    if server.process.poll() is not None:
        raise BenchError(f"ringcentral-service exited with {server.process.returncode}:\n{server.log_tail()}")


def _wait_first_sync(seen: list[tuple[float, str, int]], server: ServiceProcess) -> None:
    deadline = time.monotonic() + FIRST_SYNC_TIMEOUT_S
    while time.monotonic() < deadline:
        _check_server(server)
        answered = {operation for _, operation, status in list(seen) if status == 200}
        if {"syncUserCallLog", "syncMessages"} <= answered:
            time.sleep(1.0)  # the poll's cursor is committed
            return
        time.sleep(0.05)
    raise BenchError(f"the service made no first sync in {FIRST_SYNC_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def _log_entries(server: ServiceProcess) -> list[dict[str, Any]]:
    """The service's JSON log lines (others skipped)."""
    server.log.flush()
    server.log.seek(0)
    entries = []
    for line in server.log.read().decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def measure_latency(database: BenchDatabase, redis: BenchRedis) -> Latency:
    chance = random.Random()
    offsets = sorted(chance.uniform(0, LATENCY_SPREAD_S) for _ in range(LATENCY_CALLS))
    with (
        serve_in_thread(SimulatorConfig()) as sim,
        Sink() as sink,
        tempfile.TemporaryDirectory(prefix="zaps-bench-ringcentral-") as folder,
    ):
        simulator = sim.simulator
        seen = _clock_exchanges(simulator)
        rules = Path(folder) / "automations.toml"
        rules.write_text(AUTOMATIONS_TOML.format(name=AUTOMATION, url=f"{sink.url}/calls"), encoding="utf-8")
        env = service_env(
            database.url,
            redis.url,
            LOG_LEVEL="INFO",  # the client's "waiting for the rate budget" lines are INFO
            RINGCENTRAL_SERVER_URL=sim.base_url,
            RINGCENTRAL_MEDIA_URL=sim.base_url,
            RINGCENTRAL_CLIENT_ID=SIM.client_id,
            RINGCENTRAL_CLIENT_SECRET=SIM.client_secret,
            RINGCENTRAL_JWT=SIM.jwt,
            RINGCENTRAL_POLL_INTERVAL_SECONDS=f"{POLL_INTERVAL_S:g}",
            RINGCENTRAL_AUTOMATIONS_FILE=str(rules),
        )
        try:
            with service_process(SERVICE, env) as server:
                _wait_first_sync(seen, server)
                started = time.monotonic()
                added: dict[str, float] = {}
                for offset in offsets:
                    time.sleep(max(0.0, started + offset - time.monotonic()))
                    _check_server(server)
                    at = time.monotonic()
                    added[str(simulator.add_call(direction="Inbound", result="Accepted")["id"])] = at
                deadline = time.monotonic() + STRAGGLERS_S
                while time.monotonic() < deadline:
                    _check_server(server)
                    if set(added) <= set(_arrivals(sink)[0]):
                        break
                    time.sleep(0.05)
                window = time.monotonic() - started
                time.sleep(0.5)  # a duplicate would come right behind
                log = _log_entries(server)
        finally:
            _forget(redis.url, namespace_for(sim.base_url, SIM.client_id, SIM.jwt))
        arrived, duplicates = _arrivals(sink)
    answers = list(seen)
    polls = [at for at, operation, _ in answers if operation == "syncUserCallLog" and at >= started]
    carried = {call_id: next((at for at in polls if at >= added_at), math.nan) for call_id, added_at in added.items()}
    return Latency(
        added=len(added),
        latencies_s=[arrived[call_id] - at for call_id, at in added.items() if call_id in arrived],
        missing=sum(1 for call_id in added if call_id not in arrived),
        duplicates=duplicates,
        ready_s=server.ready_s,
        window_s=window,
        heavy_peak=_most_in_a_window([at for at, operation, _ in answers if operation == "syncUserCallLog"]),
        throttled=sum(1 for _, _, status in answers if status == 429),
        poll_gaps_s=[later - earlier for earlier, later in itertools.pairwise(polls)],
        after_poll_s=[
            arrived[call_id] - at for call_id, at in carried.items() if call_id in arrived and at <= arrived[call_id]
        ],
        budget_waits_s=[
            float(entry.get("wait_s") or 0)
            for entry in log
            if entry.get("msg") == "ringcentral: waiting for the rate budget"
        ],
        poll_failures=sum(1 for entry in log if entry.get("msg") == "poll failed"),
    )


# ------------------------------------------------------------------------------------------- 3. backfill


@dataclass(frozen=True)
class BackfillJob:
    base_url: str
    redis_url: str | None
    namespace: str
    cursor: Any


@dataclass(frozen=True)
class BackfillResult:
    seconds: float
    cpu_s: float
    rss_before_kib: int  # peak RSS of the child before the poll (interpreter and imports)
    rss_peak_kib: int  # peak RSS of the child over its life
    completed: list[str]  # the call id of each call.completed event
    events_by_kind: dict[str, int]
    cursor_moved: bool


def _peak_rss_kib() -> int:
    """Peak RSS of this process so far: VmHWM, which starts afresh at exec (ru_maxrss keeps the peak of the process
    that forked this one, the simulator's here); ru_maxrss where /proc is missing."""
    with contextlib.suppress(OSError):
        match = re.search(r"^VmHWM:\s*(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
        if match:
            return int(match.group(1))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _backfill_poll(job: BackfillJob) -> BackfillResult:
    settings = _settings(job.base_url)
    redis_client = _redis_client(job.redis_url)
    client = RingCentralClient.from_settings(settings, redis_client, namespace=job.namespace)
    try:
        await client.tokens.access_token()  # shared through Redis; else one grant, outside the timed poll
        rss_before = _peak_rss_kib()
        cpu, started = _cpu_s(), time.perf_counter()
        result = await poll_calls(client, settings, job.cursor, datetime.now(UTC))
        seconds, cpu = time.perf_counter() - started, _cpu_s() - cpu
    finally:
        await client.aclose()
        if redis_client is not None:
            await redis_client.aclose()
    return BackfillResult(
        seconds=seconds,
        cpu_s=cpu,
        rss_before_kib=rss_before,
        rss_peak_kib=_peak_rss_kib(),
        completed=[str(event.payload["id"]) for event in result.events if event.kind == CALL_COMPLETED],
        events_by_kind=dict(Counter(str(event.kind) for event in result.events)),
        cursor_moved=result.cursor != job.cursor,
    )


def run_backfill(job: BackfillJob) -> BackfillResult:
    """The backfill poll, in this process (`measure_backfill` runs it in a child process)."""
    logging.getLogger("ringcentral_service").setLevel(logging.ERROR)  # not the expected "wants a full sync"
    return asyncio.run(_backfill_poll(job))


def _child(job: BackfillJob, sender: Connection) -> None:
    try:
        sender.send(("ok", run_backfill(job)))
    except BaseException:
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


def _in_child(job: BackfillJob) -> BackfillResult:
    """`run_backfill(job)` in a fresh (spawned) process, stopped after BACKFILL_LIMIT_S at most."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(job, sender), name="bench-ringcentral-backfill", daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(BACKFILL_LIMIT_S):
            raise BenchError(f"the backfill poll did not finish in {BACKFILL_LIMIT_S:.0f} s")
        kind, payload = receiver.recv()
    except EOFError:
        raise BenchError(f"the backfill process died (exit code {process.exitcode})") from None
    finally:
        receiver.close()
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)
    if kind != "ok" or not isinstance(payload, BackfillResult):
        raise BenchError(f"the backfill poll failed:\n{payload}")
    return payload


@dataclass(frozen=True)
class Backfill:
    result: BackfillResult
    ids: list[str]  # the calls added
    requests: dict[str, int]  # RingCentral requests of the poll, by operation
    simulator_cpu_s: float  # this process (the simulator) during the poll

    @property
    def records_per_s(self) -> float:
        return len(self.ids) / self.result.seconds if self.result.seconds > 0 else math.nan

    @property
    def missing(self) -> int:
        return len(set(self.ids) - set(self.result.completed))

    @property
    def extra(self) -> int:
        """call.completed events beyond one per added call (a repeat, or a call that was not added)."""
        return len(self.result.completed) - len(self.ids) + self.missing


async def _first_sync(base_url: str, redis_url: str | None, namespace: str) -> Any:
    settings = _settings(base_url)
    redis_client = _redis_client(redis_url)
    try:
        async with RingCentralClient.from_settings(settings, redis_client, namespace=namespace) as client:
            return (await poll_calls(client, settings, None, datetime.now(UTC))).cursor
    finally:
        if redis_client is not None:
            await redis_client.aclose()


def measure_backfill(redis: BenchRedis) -> Backfill:
    namespace = f"zaps:bench:ringcentral:{secrets.token_hex(6)}"
    with serve_in_thread(SimulatorConfig(rate_limits=dict(LIFTED))) as sim:
        simulator = sim.simulator
        try:
            cursor = asyncio.run(_first_sync(sim.base_url, redis.url, namespace))
            ids = simulator.add_calls(BACKFILL_CALLS, direction="Inbound", result="Accepted")
            before: dict[str, int] = dict(simulator.counts()["by_operation"])
            cpu = _cpu_s()
            result = _in_child(BackfillJob(sim.base_url, redis.url, namespace, cursor))
            simulator_cpu = _cpu_s() - cpu
            after: dict[str, int] = simulator.counts()["by_operation"]
        finally:
            _forget(redis.url, namespace)
    requests = {name: count - before.get(name, 0) for name, count in after.items() if count != before.get(name, 0)}
    return Backfill(result, ids, requests, simulator_cpu)


# ------------------------------------------------------------------------------------------- the table


def _idle_rows(idle: dict[str, IdleStream]) -> list[Row]:
    rows: list[Row] = []
    for stream, found in idle.items():
        per_poll = found.requests / found.polls
        rows.append(
            (
                f"idle poll, {stream}: RingCentral requests per poll",
                f"{per_poll:.2f} ({found.requests} in {found.polls} polls)",
                f"1: {_verdict(found.requests == found.polls)}",
            )
        )
    calls, messages = idle["calls"], idle["messages"]
    rows += [
        ("  first full sync: requests, calls / messages", f"{calls.first_requests} / {messages.first_requests}"),
        (
            "  token grants / events during the idle polls",
            f"{calls.grants + messages.grants} / {calls.events + messages.events}",
        ),
        ("  idle poll time p50 / max, calls", _ms(calls.seconds)),
        ("  idle poll time p50 / max, messages", _ms(messages.seconds)),
    ]
    return rows


def _latency_rows(latency: Latency) -> list[Row]:
    rows: list[Row] = []
    if latency.latencies_s:
        points = percentiles(latency.latencies_s, (50, 99, 100))
        target = f"≤ {LATENCY_TARGET_S:g} s"
        rows += [
            (f"call added → webhook at the sink, poll every {POLL_INTERVAL_S:g} s, p50", f"{points[50]:.2f} s"),
            ("  p99", f"{points[99]:.2f} s", f"{target}: {_verdict(points[99] <= LATENCY_TARGET_S)}"),
            ("  max", f"{points[100]:.2f} s", f"{target}: {_verdict(points[100] <= LATENCY_TARGET_S)}"),
        ]
    else:
        rows.append(("call added → webhook at the sink", "no webhook arrived", f"≤ {LATENCY_TARGET_S:g} s: missed"))
    gaps, waits, after_poll = latency.poll_gaps_s, latency.budget_waits_s, latency.after_poll_s
    late = sum(1 for gap in gaps if gap > POLL_INTERVAL_S + 1)
    rows += [
        (
            "  the carrying poll answered → webhook at the sink, p50 / max",
            _ms(after_poll) if after_poll else "none",
        ),
        (
            "  calls added, delivered, missing, duplicated",
            f"{latency.added}, {len(latency.latencies_s)}, {latency.missing}, {latency.duplicates} "
            f"(in {latency.window_s:.0f} s)",
        ),
        (
            "  call-log polls: gap median / max; gaps > interval + 1 s",
            f"{statistics.median(gaps):.2f} / {max(gaps):.2f} s; {late} of {len(gaps)}" if gaps else "fewer than 2",
        ),
        (
            "  most call-log (Heavy) requests within 60 s",
            f"{latency.heavy_peak}",
            f"≤ {HEAVY_REQUESTS_PER_MINUTE}, the plan's budget",
        ),
        (
            "  requests held for the rate budget (the client's own wait)",
            f"{len(waits)}" + (f", for {' / '.join(f'{wait:.1f}' for wait in waits)} s" if waits else ""),
            "0",
        ),
        ("  429 answers; failed polls", f"{latency.throttled}; {latency.poll_failures}"),
        ("  service start → ready (fresh database)", f"{latency.ready_s:.2f} s"),
    ]
    return rows


def _backfill_rows(backfills: list[Backfill]) -> list[Row]:
    ranked = sorted(backfills, key=lambda backfill: backfill.records_per_s)
    middle = ranked[len(ranked) // 2]
    result = middle.result
    kib_per_mib = 1024
    heavy = sum(count for name, count in middle.requests.items() if name in ("syncUserCallLog", "readUserCallLog"))
    missing, extra = sum(b.missing for b in backfills), sum(b.extra for b in backfills)
    return [
        (
            f"backfill of {len(middle.ids):,} calls (ISync refused: FSync + call log), median of {len(backfills)}",
            f"{middle.records_per_s:,.0f} records/s ({' / '.join(f'{b.records_per_s:,.0f}' for b in backfills)})",
            "no target",
        ),
        (
            "  the median poll: time; its CPU; simulator CPU meanwhile",
            f"{result.seconds:.2f} s; {result.cpu_s:.2f} s; {middle.simulator_cpu_s:.2f} s",
        ),
        (
            "  peak RSS of the polling process: before the poll → after (VmHWM)",
            f"{result.rss_before_kib / kib_per_mib:.1f} → {result.rss_peak_kib / kib_per_mib:.1f} MiB",
        ),
        (
            "  RingCentral requests of the poll",
            ", ".join(f"{name} {count}" for name, count in sorted(middle.requests.items())),
        ),
        (
            "  Heavy requests vs the budget",
            f"{heavy} (1 + 1 + ⌈{len(middle.ids):,} / {MAX_PER_PAGE:,}⌉; FSync holds {MAX_SYNC_RECORDS})",
            f"≤ {HEAVY_REQUESTS_PER_MINUTE}/min: "
            + ("fits" if heavy <= HEAVY_REQUESTS_PER_MINUTE else "over (limit lifted here)"),
        ),
        (
            "  call.completed events per run; ids missing / extra, all runs",
            f"{len(result.completed):,}; {missing} / {extra}",
            "0 / 0: " + ("yes" if missing == 0 and extra == 0 else "NO"),
        ),
        ("  events by kind", ", ".join(f"{kind} {count:,}" for kind, count in sorted(result.events_by_kind.items()))),
    ]


def run() -> None:
    busy = cpu_busy()
    if busy > 0.2:
        print(f"warning: the machine was {busy:.0%} busy before the run; the figures will be low and noisy", flush=True)
    redis = bench_redis()
    print(f"redis: {redis.description}\n", flush=True)

    print(f"1. idle polls ({IDLE_POLLS} per stream) ...", flush=True)
    idle = measure_idle(redis)
    print(f"2. call → webhook ({LATENCY_CALLS} calls over {LATENCY_SPREAD_S:.0f} s, a service process) ...", flush=True)
    with bench_database() as database:
        print(f"   database: {database.description}", flush=True)
        latency = measure_latency(database, redis)
    print(f"3. backfill of {BACKFILL_CALLS:,} calls ({BACKFILL_RUNS} runs, each in a child process) ...\n", flush=True)
    backfills = [measure_backfill(redis) for _ in range(BACKFILL_RUNS)]

    rows: list[Row] = [
        *_idle_rows(idle),
        *_latency_rows(latency),
        *_backfill_rows(backfills),
        ("RingCentral", "the simulator on 127.0.0.1 (parts 1 and 3: Heavy and Light limits lifted)"),
        ("database (part 2)", "a fresh one on the server at 127.0.0.1:5432 unless BENCH_DATABASE_URL is set"),
        ("Redis", redis.description),
        ("CPU busy before the run", f"{busy:.0%} of {os.cpu_count()} cores"),
        *machine_rows(),
    ]
    print_figures("RingCentral (ringcentral-service on its simulator)", rows)

    problems = []
    for backfill in backfills:
        if backfill.missing or backfill.extra or not backfill.result.cursor_moved:
            problems.append(
                f"backfill: {backfill.missing} of {len(backfill.ids):,} calls gave no call.completed event, "
                f"{backfill.extra} extra events, cursor moved: {backfill.result.cursor_moved}"
            )
    if latency.missing or latency.duplicates:
        problems.append(f"call → webhook: {latency.missing} calls never delivered, {latency.duplicates} twice")
    if problems:
        raise BenchError("; ".join(problems))
