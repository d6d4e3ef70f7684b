"""What the benchmarks share: a throw-away database, service processes, a bounded load generator (closed loop,
`load`) and a paced sender (open loop, `paced`), an HTTP sink that timestamps what it receives, percentiles and
the printed tables.

Everything here targets 127.0.0.1 only, and every loop is bounded in count and in time.

    with bench_database() as database:
        env = service_env(database.url, bench_redis().url)
        with service_process("test", env) as server:       # `zaps serve test` as a real process
            result = load(server.url("/health"))            # 32 connections, 1 s warm-up, 10 s measured
    print_figures("test-service", [("GET /health", f"{result.rps:,.0f} req/s"), *machine_rows(result.generator)])
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import http.client
import importlib
import itertools
import math
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = ("127.0.0.1", 6379, 14)  # database 14: the tests use 15
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

# A request of the load generator, built per request: called with the request's sequence number, it returns the
# body and the extra headers. It runs in the generator's own process, so it must be picklable: a module-level
# function or a functools.partial of one, not a lambda.
RequestFactory = Callable[[int], tuple[bytes, Mapping[str, str]]]
Generator = Literal["auto", "python", "wrk"]


class BenchError(RuntimeError):
    """A benchmark could not run (server did not start, generator failed); `python -m bench` prints it."""


# ---------------------------------------------------------------------------------------------------------- figures


def percentiles(values: Iterable[float], points: Iterable[float] = (50, 90, 99)) -> dict[float, float]:
    """Each point (0-100) of the values, interpolating linearly between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    result = {}
    for point in points:
        rank = (len(ordered) - 1) * point / 100
        low = math.floor(rank)
        high = min(low + 1, len(ordered) - 1)
        result[point] = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return result


def percentile(values: Iterable[float], point: float) -> float:
    return percentiles(values, (point,))[point]


def machine_rows(generator: str | None = None) -> list[tuple[str, str]]:
    """Date, CPU, cores, RAM, OS, Python (and the load generator) as table rows."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = models[0].strip() if models else cpu
    ram = "unknown"
    with contextlib.suppress(OSError):
        kib = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        ram = f"{int(kib.group(1)) / 2**20:.1f} GiB" if kib else ram
    rows = [
        ("date", time.strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("RAM", ram),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
    ]
    if generator:
        rows.append(("load generator", generator))
    return rows


def cpu_busy(sample_s: float = 1.0) -> float:
    """The share (0-1) of all cores busy over `sample_s`, from /proc/stat: other work skews every figure."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total_a, idle_a = sample()
        time.sleep(sample_s)
        total_b, idle_b = sample()
    except (OSError, ValueError, IndexError):
        return math.nan
    return 1 - (idle_b - idle_a) / max(1, total_b - total_a)


Row = tuple[str, str] | tuple[str, str, str]  # (figure, value) or (figure, value, target)


def print_figures(title: str, rows: Sequence[Row]) -> None:
    """A Markdown table, readable in a terminal and ready to paste into docs/performance.md: two columns, or three
    when a row gives a target to compare the value with."""
    header = ("Figure", "Value", "Target") if any(len(row) == 3 for row in rows) else ("Figure", "Value")
    table = [tuple(row) + ("",) * (len(header) - len(row)) for row in rows]
    widths = [max(len(header[i]), *(len(row[i]) for row in table)) for i in range(len(header))]
    print(f"{title}\n")
    print("| " + " | ".join(f"{cell:<{width}}" for cell, width in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in table:
        print("| " + " | ".join(f"{cell:<{width}}" for cell, width in zip(row, widths, strict=True)) + " |")
    print(flush=True)


def postgres_cpu_seconds(database: str) -> float:
    """User + system CPU time used so far by the PostgreSQL backends connected to `database` on this machine (read
    from /proc: their process title names the database). Shared processes (WAL writer, checkpointer) and backends
    that already exited are not counted; NaN where /proc is missing."""
    proc = Path("/proc")
    if not proc.is_dir():
        return math.nan
    ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres:") or f" {database} " not in title:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# -------------------------------------------------------------------------------------------- database and Redis


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    description: str


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@contextlib.contextmanager
def bench_database(*, fresh: bool = False) -> Iterator[BenchDatabase]:
    """BENCH_DATABASE_URL or DATABASE_URL as given (kept); else a fresh `zaps_bench_<random>` database on the server
    at 127.0.0.1:5432 (or, if none answers, an embedded one in a temporary folder), dropped afterwards.

    `fresh=True` always makes a throw-away one, whatever the environment says (a benchmark that fills tables)."""
    for variable in () if fresh else ("BENCH_DATABASE_URL", "DATABASE_URL"):
        if url := os.environ.get(variable):
            yield BenchDatabase(url, f"{variable} (kept)")
            return
    admin, where = LOCAL_POSTGRES, "127.0.0.1:5432"
    try:
        psycopg.connect(admin, connect_timeout=3).close()
    except psycopg.Error:
        from zaps.embedded_db import start_embedded_postgres

        folder = Path(tempfile.mkdtemp(prefix="zaps-bench-pg-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # before the server's own cleanup: runs after it
        admin = start_embedded_postgres(folder / "data", keep=False)
        where = "embedded PostgreSQL"
    name = f"zaps_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield BenchDatabase(
            _with_database(admin, name), f"fresh {name} on {where} (PostgreSQL {version[0] if version else '?'})"
        )
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class BenchRedis:
    url: str | None  # None: the service uses its in-memory stand-in
    description: str


def bench_redis() -> BenchRedis:
    """REDIS_URL if set; else database 14 of the Redis on 127.0.0.1:6379 if it answers; else none."""
    if url := os.environ.get("REDIS_URL"):
        return BenchRedis(url, "REDIS_URL")
    host, port, db = LOCAL_REDIS
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return BenchRedis(f"redis://{host}:{port}/{db}", f"Redis on {host}:{port}, db {db}")
    except OSError:
        pass
    return BenchRedis(None, "in-memory stand-in (no Redis answered on 127.0.0.1:6379)")


def service_env(database_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked service: its database and Redis, WARNING logs (no line per request)."""
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", **extra}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


# ---------------------------------------------------------------------------------------------- service processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(port: int, path: str, timeout_s: float = 1.0) -> int | None:
    """The status of `GET path` on 127.0.0.1:port, or None if nothing answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@dataclass
class ServiceProcess:
    service: str
    port: int
    prefix: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]  # the process's stdout and stderr
    ready_s: float = math.nan  # from spawning the process to the ready path's first 200

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """`url("/health")` is http://127.0.0.1:<port>/api/<service>/health."""
        return f"{self.base_url}{self.prefix}{path}"

    def rss_bytes(self) -> int:
        """Resident memory of the server process now."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except FileNotFoundError:  # not Linux
            return int(importlib.import_module("psutil").Process(self.process.pid).memory_info().rss)
        match = re.search(r"^VmRSS:\s*(\d+) kB", status, re.MULTILINE)
        if not match:
            raise BenchError(f"no VmRSS for pid {self.process.pid}")
        return int(match.group(1)) * 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process used so far."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            times = importlib.import_module("psutil").Process(self.process.pid).cpu_times()
            return float(times.user + times.system)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, chars: int = 4000) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:]


@contextlib.contextmanager
def service_process(
    service: str,
    env: Mapping[str, str],
    *,
    ready_path: str = "/health/ready",
    prefix: str | None = None,
    port: int | None = None,
    timeout_s: float = 60.0,
) -> Iterator[ServiceProcess]:
    """`python -m zaps.cli serve SERVICE` on 127.0.0.1 with `env` over this environment; yields once
    `prefix + ready_path` answers 200 (`ready_s` says how long that took), stops it (SIGTERM, then SIGKILL) after."""
    port = port or free_port()
    prefix = prefix if prefix is not None else env.get("PATH_PREFIX", f"/api/{service}")
    command = [sys.executable, "-m", "zaps.cli", "serve", service, "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        server = ServiceProcess(service, port, prefix, process, log)
        try:
            deadline = started + timeout_s
            while http_status(port, prefix + ready_path) != 200:
                if process.poll() is not None:
                    raise BenchError(f"{service} exited with {process.returncode}:\n{server.log_tail()}")
                if time.perf_counter() > deadline:
                    raise BenchError(f"{service} was not ready in {timeout_s:.0f} s:\n{server.log_tail()}")
                time.sleep(0.01)
            server.ready_s = time.perf_counter() - started
            yield server
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ------------------------------------------------------------------------------------------------ load generator


@dataclass(frozen=True)
class LoadResult:
    generator: str
    connections: int
    duration_s: float  # the measured window (after the warm-up)
    requests: int  # answered in the window, any status
    non_2xx: int
    errors: dict[str, int]  # connection errors and timeouts, by kind
    latency_ms: dict[str, float]  # p50, p90, p99, max (p75 instead of p90 from wrk)
    # Every answer by status, the warm-up's included: what the server acknowledged in all (empty from wrk).
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def answered_2xx(self) -> int:
        """2xx answers over the whole run, warm-up included (the Python generator only)."""
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def summary(self) -> str:
        """`4,812 req/s, p50 6.4 ms, p99 11.0 ms` (and the failures, if any)."""
        text = f"{self.rps:,.0f} req/s, p50 {self.latency_ms['p50']:.1f} ms, p99 {self.latency_ms['p99']:.1f} ms"
        if self.non_2xx or self.errors:
            text += f" ({self.non_2xx} non-2xx, {sum(self.errors.values())} errors)"
        return text


@dataclass(frozen=True)
class LoadConfig:
    url: str
    method: str = "GET"
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    request: RequestFactory | None = None
    connections: int = 32
    duration_s: float = 10.0
    warmup_s: float = 1.0
    request_timeout_s: float = 10.0
    max_requests: int = 10_000_000


def load(
    url: str,
    *,
    method: str = "GET",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    request: RequestFactory | None = None,
    connections: int = 32,
    duration_s: float = 10.0,
    warmup_s: float = 1.0,
    request_timeout_s: float = 10.0,
    max_requests: int = 10_000_000,
    generator: Generator | None = None,
) -> LoadResult:
    """Closed-loop load on a 127.0.0.1 URL: `connections` keep-alive connections, each sending its next request when
    the answer came; `warmup_s` first (not counted), then `duration_s` measured.

    The generator runs in its own process, never in the caller's or the server's interpreter: `wrk` when it is on
    PATH and the request is a fixed GET, else the Python one (asyncio streams, uvloop if installed, one process).
    `generator` (or BENCH_GENERATOR) forces one. `request(n)` gives the n-th request's body and extra headers.
    """
    config = LoadConfig(
        url, method.upper(), body, dict(headers or {}), request, connections, duration_s, warmup_s,
        request_timeout_s, max_requests,
    )  # fmt: skip
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise BenchError(f"the load generator only targets 127.0.0.1, not {host}")
    choice = generator or os.environ.get("BENCH_GENERATOR", "auto")
    fixed_get = config.method == "GET" and not body and request is None
    if choice == "wrk" or (choice == "auto" and fixed_get and shutil.which("wrk")):
        if not fixed_get:
            raise BenchError("wrk is used for fixed GET requests only")
        return _wrk_load(config)
    return _python_load_in_process(config)


def _python_load_in_process(config: LoadConfig) -> LoadResult:
    limit = 60 + config.warmup_s + config.duration_s + config.request_timeout_s  # spawning takes a second or two
    result = _in_child(run_python_load, config, limit, "bench-load")
    assert isinstance(result, LoadResult)
    return result


def _in_child(function: Callable[[Any], object], config: object, limit_s: float, name: str) -> object:
    """`function(config)` in a fresh (spawned) process, so it shares no interpreter with the caller; its result
    comes back pickled. The child is a daemon: it dies with the caller, and is stopped after `limit_s` at most."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(function, config, sender), name=name, daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(limit_s):
            raise BenchError(f"{name} did not finish in {limit_s:.0f} s")
        kind, payload = receiver.recv()
    except EOFError:
        raise BenchError(f"{name} died (exit code {process.exitcode})") from None
    finally:
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)
    if kind != "ok":
        raise BenchError(f"{name} failed:\n{payload}")
    return payload


def _child(function: Callable[[Any], object], config: object, sender: Connection) -> None:
    try:
        sender.send(("ok", function(config)))
    except BaseException:
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


def _event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    try:
        import uvloop

        return uvloop.new_event_loop, "asyncio + uvloop"
    except ImportError:
        return None, "asyncio"


def run_python_load(config: LoadConfig) -> LoadResult:
    """The Python generator, in this process (`load` runs it in a child process)."""
    loop_factory, name = _event_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_drive(config, f"Python ({name}, keep-alive HTTP/1.1 over asyncio streams, 1 process)"))


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one answer; return its status and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep_alive = head.startswith(b"HTTP/1.1") and b"\r\nconnection: close" not in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
        if length:
            await reader.readexactly(length)
    elif b"\r\ntransfer-encoding: chunked" in lower:
        for _ in range(1_000_000):
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF (the last: no trailers expected)
            if size == 0:
                break
    elif not (status < 200 or status in (204, 304)):
        await reader.read()  # the body ends with the connection
        keep_alive = False
    return status, keep_alive


class _Requests:
    """The bytes of HTTP/1.1 requests to one URL: a method, fixed headers, and per request a body and headers."""

    def __init__(self, url: str, method: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.method = method
        self.start = f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )

    def build(self, body: bytes, extra: Mapping[str, str]) -> bytes:
        head = self.start
        if body or self.method not in ("GET", "HEAD", "DELETE"):
            head += f"Content-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        return (head + "\r\n").encode("latin-1") + body


async def _drive(config: LoadConfig, generator: str) -> LoadResult:
    requests = _Requests(config.url, config.method, config.headers)
    host, port, build = requests.host, requests.port, requests.build
    fixed = None if config.request else build(config.body, {})
    sequence = itertools.count()
    latencies = array("d")
    errors: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    non_2xx = 0
    clock = time.perf_counter
    record_from = clock() + config.warmup_s
    stop_at = record_from + config.duration_s

    async def connection() -> None:
        nonlocal non_2xx
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while clock() < stop_at and len(latencies) < config.max_requests:
            if reader is None or writer is None:
                try:
                    async with asyncio.timeout(config.request_timeout_s):
                        reader, writer = await asyncio.open_connection(host, port)
                except (OSError, TimeoutError) as error:
                    errors[f"connect: {type(error).__name__}"] += 1
                    await asyncio.sleep(0.05)
                    continue
            if fixed is not None:
                data = fixed
            else:
                assert config.request is not None
                data = build(*config.request(next(sequence)))
            started = clock()
            try:
                async with asyncio.timeout(config.request_timeout_s):
                    writer.write(data)
                    status, keep_alive = await _read_response(reader)
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                errors[type(error).__name__] += 1
                writer.close()
                reader = writer = None
                continue
            statuses[status] += 1
            if started >= record_from:
                latencies.append(clock() - started)
                if not 200 <= status < 300:
                    non_2xx += 1
            if not keep_alive:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    async with asyncio.timeout(config.warmup_s + config.duration_s + config.request_timeout_s + 10):
        await asyncio.gather(*(connection() for _ in range(config.connections)))
    elapsed = clock() - record_from
    if not latencies:
        raise BenchError(f"no request was answered in the measured window; errors: {dict(errors)}")
    points = percentiles(latencies, (50, 90, 99, 100))
    return LoadResult(
        generator=generator,
        connections=config.connections,
        duration_s=elapsed,
        requests=len(latencies),
        non_2xx=non_2xx,
        errors=dict(errors),
        latency_ms={
            "p50": points[50] * 1000,
            "p90": points[90] * 1000,
            "p99": points[99] * 1000,
            "max": points[100] * 1000,
        },
        statuses=dict(statuses),
    )


# --------------------------------------------------------------------------------------------------- HTTP sink


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic() once the body was read: one clock for every process on Linux


class HttpSink:
    """A webhook target on 127.0.0.1 for latency figures: records each POST with the time its body was read, and
    answers 200 at once.

    Unlike `zaps.testing.sink.Sink` (HTTP/1.0, a new connection per request, a listen backlog of 5, so a burst of
    connections can lose a SYN and wait a second for its retransmission), it keeps connections alive (HTTP/1.1)
    and accepts a backlog of 1,024. One thread per connection, in this process: keep this process idle meanwhile
    (e.g. waiting on `paced`, which sends from its own process)."""

    def __init__(self, max_requests: int = 1_000_000) -> None:
        self.requests: list[Received] = []
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # the body follows the headers at once, not after a delayed ACK (40 ms)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                at = time.monotonic()
                with lock:
                    if len(sink.requests) < max_requests:
                        headers = {k.lower(): v for k, v in self.headers.items()}
                        sink.requests.append(Received(self.path, headers, body, at))
                answer = b'{"ok": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-sink", daemon=True)

    def __enter__(self) -> HttpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# ------------------------------------------------------------------------------------------- paced (open-loop) sender


@dataclass(frozen=True)
class PacedConfig:
    url: str
    request: RequestFactory
    rate_per_s: float
    count: int
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    max_connections: int = 64
    request_timeout_s: float = 10.0


@dataclass(frozen=True)
class PacedResult:
    """Per request, by sequence number: when it was due, sent and answered (`time.monotonic()`, which on Linux is
    one clock for every process, so another process's timestamps compare with these), and its status (0: no
    answer; `errors` says why)."""

    generator: str
    rate_per_s: float
    due_at: list[float]
    sent_at: list[float]
    answered_at: list[float]  # NaN: no answer
    statuses: list[int]
    errors: dict[str, int]

    def latencies_s(self, first: int = 0) -> list[float]:
        """Answer times of the answered requests from sequence number `first` on."""
        return [
            done - sent
            for sent, done in zip(self.sent_at[first:], self.answered_at[first:], strict=True)
            if not math.isnan(done)
        ]

    def late(self, first: int = 0, slack_s: float = 0.005) -> int:
        """Requests sent more than `slack_s` after they were due (every connection was busy, or the loop was)."""
        pairs = zip(self.due_at[first:], self.sent_at[first:], strict=True)
        return sum(1 for due, sent in pairs if sent - due > slack_s)


_PACED_IDLE_S = 2.0  # reuse a keep-alive connection idle for less than this only


def paced(
    url: str,
    request: RequestFactory,
    *,
    rate_per_s: float,
    count: int,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    max_connections: int = 64,
    request_timeout_s: float = 10.0,
) -> PacedResult:
    """Open-loop load on a 127.0.0.1 URL: `count` requests at a steady `rate_per_s`, each sent when due whatever
    the earlier ones are doing (on an idle keep-alive connection, or a new one up to `max_connections`), so a slow
    answer does not slow the sending down. `request(n)` gives the n-th body and extra headers. Runs in its own
    process, like `load`."""
    if urlsplit(url).hostname not in LOOPBACK:
        raise BenchError(f"the paced sender only targets 127.0.0.1, not {urlsplit(url).hostname}")
    if not 0 < rate_per_s <= 100_000 or not 0 < count <= 1_000_000:
        raise BenchError("paced: the rate must be in (0, 100,000] per second and the count in (0, 1,000,000]")
    config = PacedConfig(
        url, request, rate_per_s, count, method.upper(), dict(headers or {}), max_connections, request_timeout_s
    )
    limit = 60 + count / rate_per_s + 2 * request_timeout_s
    result = _in_child(run_paced, config, limit, "bench-paced")
    assert isinstance(result, PacedResult)
    return result


def run_paced(config: PacedConfig) -> PacedResult:
    """The paced sender, in this process (`paced` runs it in a child process)."""
    loop_factory, name = _event_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        generator = f"Python paced sender ({name}, open loop, up to {config.max_connections} connections)"
        return runner.run(_pace(config, generator))


async def _pace(config: PacedConfig, generator: str) -> PacedResult:
    requests = _Requests(config.url, config.method, config.headers)
    clock = time.monotonic
    nan = math.nan
    due_at = [nan] * config.count
    sent_at = [nan] * config.count
    answered_at = [nan] * config.count
    statuses = [0] * config.count
    errors: Counter[str] = Counter()
    # Idle keep-alive connections, the most recently used last. One idle for long may have been closed by the
    # server (uvicorn's keep-alive timeout is 5 s) while a request is on its way: it is not reused.
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    slots = asyncio.Semaphore(config.max_connections)
    opened: list[asyncio.StreamWriter] = []

    def idle_connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        while idle:
            reader, writer, since = idle.pop()
            if clock() - since < _PACED_IDLE_S and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    async def send(n: int) -> None:
        data = requests.build(*config.request(n))
        async with slots:
            writer: asyncio.StreamWriter | None = None
            try:
                async with asyncio.timeout(config.request_timeout_s):
                    if reused := idle_connection():
                        reader, writer = reused
                    else:
                        reader, writer = await asyncio.open_connection(requests.host, requests.port)
                        opened.append(writer)
                    sent_at[n] = clock()
                    writer.write(data)
                    status, keep_alive = await _read_response(reader)
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                errors[type(error).__name__] += 1
                if writer is not None:
                    writer.close()
                return
            answered_at[n] = clock()
            statuses[n] = status
            if keep_alive:
                idle.append((reader, writer, answered_at[n]))
            else:
                writer.close()

    tasks = []
    start = clock() + 0.05
    for n in range(config.count):
        due = start + n / config.rate_per_s
        due_at[n] = due
        if (wait := due - clock()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(send(n)))
    try:
        async with asyncio.timeout(config.request_timeout_s * 2 + 10):
            await asyncio.gather(*tasks)
    finally:
        for writer in opened:
            writer.close()
    return PacedResult(generator, config.rate_per_s, due_at, sent_at, answered_at, statuses, dict(errors))


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _wrk_ms(value: str, unit: str) -> float:
    return float(value) * _WRK_UNITS[unit]


def parse_wrk(output: str, connections: int, generator: str = "wrk") -> LoadResult:
    """Read `wrk --latency` output: requests and time, the latency distribution (50/75/90/99 %), max, errors."""
    number = r"([\d.]+)(us|ms|s|m|h)"
    done = re.search(rf"(\d+) requests in {number}", output)
    if not done:
        raise BenchError(f"could not read wrk's output:\n{output}")
    latency = {f"p{p}": _wrk_ms(v, u) for p, v, u in re.findall(rf"^\s*(\d+)%\s+{number}\s*$", output, re.MULTILINE)}
    stats = re.search(rf"^\s*Latency\s+{number}\s+{number}\s+{number}", output, re.MULTILINE)
    if stats:
        latency["max"] = _wrk_ms(stats.group(5), stats.group(6))
    errors: dict[str, int] = {}
    if socket_errors := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        for kind, count in zip(("connect", "read", "write", "timeout"), socket_errors.groups(), strict=True):
            if int(count):
                errors[kind] = int(count)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return LoadResult(
        generator=generator,
        connections=connections,
        duration_s=_wrk_ms(done.group(2), done.group(3)) / 1000,
        requests=int(done.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=errors,
        latency_ms=latency,
    )


def _wrk_load(config: LoadConfig) -> LoadResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not on PATH")
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    name = (version.stdout + version.stderr).split("Copyright")[0].strip() or "wrk"
    headers = [arg for k, v in config.headers.items() for arg in ("-H", f"{k}: {v}")]

    def run(seconds: float) -> str:
        # One thread: like the Python generator, it leaves the other cores to the server.
        command = [wrk, "-t1", f"-c{config.connections}", f"-d{max(1, round(seconds))}s", "--latency"]
        command += [f"--timeout={max(1, round(config.request_timeout_s))}s", *headers, config.url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
        if done.returncode != 0:
            raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    if config.warmup_s > 0:
        run(config.warmup_s)
    return parse_wrk(run(config.duration_s), config.connections, f"{name} (1 thread)")


def stats_line(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    """`1.84 s (1.79 / 1.84 / 1.90)`: the median, then each value."""
    middle = percentile(values, 50)
    return f"{middle:.{digits}f} {unit} ({' / '.join(f'{v:.{digits}f}' for v in values)})"
