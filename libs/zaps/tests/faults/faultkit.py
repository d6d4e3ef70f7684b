"""The fault suite's kit: two real service processes, a stream of signed webhooks sent as a real sender would
(refused ones sent again later), and the counts every scenario asserts: acknowledged events processed, runs stuck,
deliveries and doubles at a receiver that does not deduplicate, the time to recover, and what the step's
`on_unsure` rule (resend, check or hold) did with the steps a fault left unsure.

The clocks are shortened as the docs allow (docs/automations.md, "No run stays stuck"), so the documented bound,
`STALLED_AFTER_S + HOUSEKEEPING_INTERVAL_S` (60 s by default), is 3 s here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
from fault_service import HOOK_SECRET
from psycopg.rows import dict_row
from zaps import signing
from zaps.testing.apps import free_port, server_process
from zaps.testing.sink import Sink

HERE = Path(__file__).parent
AUTOMATION = "faults.forward"
HOOK_PATH = "/api/faults/hooks/forward"

HEARTBEAT_S = 0.5
STALLED_AFTER_S = 2.0
HOUSEKEEPING_S = 1.0
# The documented bound with these clocks: a run whose worker died is queued again within this, once the database
# answers (a job that failed or vanished: within HOUSEKEEPING_S, which is shorter).
BOUND_S = STALLED_AFTER_S + HOUSEKEEPING_S
# What a loaded 2-core machine adds to the bound: a housekeeping pass late by a busy event loop.
MARGIN_S = 3.0
# Time for the backlog of a few hundred runs to drain once nothing is stuck; a bound on the wait, not a promise.
DRAIN_S = 30.0

# Where a run of an acknowledged event may end. `needs_review` is a `hold` step that was unsure: the run is not
# stuck, it waits for its owner's review (listed by `zaps runs list --status needs_review`).
PROCESSED_STATES: frozenset[str] = frozenset({"succeeded", "needs_review"})

Rule = Literal["resend", "check", "hold"]
RULES: tuple[Rule, ...] = ("resend", "check", "hold")

BOARD: list[str] = []  # one counts line per scenario, printed at the end of the session (conftest.py)


def query(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row, connect_timeout=3) as conn:
        return conn.execute(sql, params).fetchall()


def run_states(database_url: str) -> Counter[str]:
    sql = "SELECT status, count(*) AS n FROM zaps_run WHERE automation = %s GROUP BY 1"
    rows = query(database_url, sql, AUTOMATION)
    return Counter({row["status"]: int(row["n"]) for row in rows})


def stuck_runs(database_url: str) -> list[dict[str, Any]]:
    """Active runs that no job will run: none `todo`, and none `doing` in a worker that is still alive."""
    return query(
        database_url,
        """
        SELECT r.id, r.status FROM zaps_run r
        WHERE r.automation = %s AND r.status IN ('queued', 'running', 'retrying')
        AND NOT EXISTS (
            SELECT 1 FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
            WHERE j.task_name = 'zaps.run' AND (j.args ->> 'run_id')::bigint = r.id
              AND (j.status = 'todo'
                   OR (j.status = 'doing' AND w.last_heartbeat > now() - make_interval(secs => %s))))
        """,
        AUTOMATION,
        STALLED_AFTER_S + HOUSEKEEPING_S,
    )


def processed_orders(database_url: str) -> dict[int, str]:
    """Order number -> the status of its run."""
    rows = query(
        database_url,
        "SELECT (e.payload ->> 'order')::int AS n, r.status FROM zaps_run r JOIN zaps_event e ON e.id = r.event_id "
        "WHERE r.automation = %s",
        AUTOMATION,
    )
    return {row["n"]: row["status"] for row in rows}


class Services:
    """Two `zaps serve` processes (web and worker each) on the same database; either may be killed and restarted."""

    def __init__(
        self, database_url: str, target_url: str, log_dir: Path, *, on_unsure: Rule = "resend", **extra_env: str
    ) -> None:
        self.env = {
            "DATABASE_URL": database_url,
            "PYTHONPATH": str(HERE),
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "PATH_PREFIX": "/api/faults",
            "TARGET_URL": target_url,
            "WORKER_HEARTBEAT_S": str(HEARTBEAT_S),
            "STALLED_AFTER_S": str(STALLED_AFTER_S),
            "HOUSEKEEPING_INTERVAL_S": str(HOUSEKEEPING_S),
            "ON_UNSURE": on_unsure,  # fault_service.py: the delivery step's rule
            **extra_env,
        }
        self.ports = [free_port(), free_port()]
        self.logs = [log_dir / "service-0.log", log_dir / "service-1.log"]
        self.stacks = [ExitStack(), ExitStack()]
        self.processes: list[Any] = [None, None]
        self.kills = 0

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self, slot: int) -> None:
        started = self.stacks[slot].enter_context(
            server_process("fault_service:service", self.env, port=self.ports[slot], log_path=self.logs[slot])
        )
        self.processes[slot] = started["process"]

    def kill(self, slot: int) -> None:
        """SIGKILL: no shutdown, no job given back; its jobs stay `doing` until housekeeping sees it silent."""
        process = self.processes[slot]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.stacks[slot].close()
        self.kills += 1

    def __enter__(self) -> Services:
        # One after the other: side by side, two imports on a busy 2-core machine took 26 s, one 13 s (measured),
        # and outran server_process's 30 s readiness wait.
        self.start(0)
        try:
            self.start(1)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for stack in self.stacks:
            stack.close()


@dataclass
class Stream:
    """Sends orders 0..count-1 as signed webhooks at `rate` per second from a few threads, alternating between
    the services; an order not answered 2xx (refused, or the connection failed) is sent again by `resend_refused`,
    as a sender would retry. The body of an order never changes, so a resent order is one event."""

    urls: list[str]
    count: int
    rate: float = 40.0
    acknowledged: set[int] = field(default_factory=set)
    refusals: Counter[str] = field(default_factory=Counter)
    refused: set[int] = field(default_factory=set)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def post(self, client: httpx.Client, order: int, url: str) -> bool:
        body = json.dumps({"order": order}).encode()
        headers = {"content-type": "application/json", **signing.sign(HOOK_SECRET, body)}
        try:
            answer = client.post(url + HOOK_PATH, content=body, headers=headers)
            outcome = str(answer.status_code)
            ok = answer.is_success
        except httpx.HTTPError as error:
            outcome, ok = type(error).__name__, False
        with self._lock:
            self.requests += 1
            if ok:
                self.acknowledged.add(order)
            else:
                self.refusals[outcome] += 1
                self.refused.add(order)
        return ok

    def _send_all(self) -> None:
        started = time.monotonic()
        with httpx.Client(timeout=10) as client, ThreadPoolExecutor(max_workers=8) as pool:
            for order in range(self.count):
                delay = started + order / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.post, client, order, self.urls[order % len(self.urls)])

    def start(self) -> Stream:
        self._thread = threading.Thread(target=self._send_all, daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float = 60) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the stream did not finish in {timeout} s"

    def resend_refused(self, *, timeout: float = 30) -> None:
        """Send every order not yet acknowledged again, alternating services, until each is (bounded)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=10) as client:
            attempt = 0
            while missing := sorted(set(range(self.count)) - self.acknowledged):
                assert time.monotonic() < deadline, f"{len(missing)} orders still refused after {timeout} s"
                for order in missing:
                    self.post(client, order, self.urls[(order + attempt) % len(self.urls)])
                attempt += 1
                time.sleep(0.2)


@dataclass
class Tally:
    """A scenario's counts, asserted by the test and printed on the board."""

    scenario: str
    rule: Rule = "resend"
    sent: int = 0
    acknowledged: int = 0
    refused_answers: int = 0
    runs: int = 0
    deliveries: int = 0
    doubles: int = 0
    orders_with_two_keys: int = 0
    unsure: int = 0
    checked: int = 0
    found_done: int = 0
    held: int = 0
    listed: int = 0
    undelivered: int = 0
    stuck_at_bound: int = 0
    stuck_at_end: int = 0
    recovery_s: float = 0.0
    faults: str = ""
    refusals: str = ""

    def line(self) -> str:
        return (
            f"{self.scenario} [{self.rule}]: {self.faults}; events sent {self.sent}, acknowledged {self.acknowledged} "
            f"(answers not 2xx {self.refused_answers}: {self.refusals}; each order resent until acknowledged), "
            f"runs {self.runs}, "
            f"deliveries {self.deliveries}, doubles {self.doubles} (orders sent with two keys: "
            f"{self.orders_with_two_keys}), unsure steps {self.unsure}, checked {self.checked} (found done "
            f"{self.found_done}), held {self.held} (listed {self.listed}; orders without a delivery "
            f"{self.undelivered}), stuck {self.stuck_at_bound} "
            f"at the bound and {self.stuck_at_end} at the end, recovered in {self.recovery_s:.1f} s "
            f"(bound {BOUND_S:.0f} s)"
        )


def deliveries_by_order(receiver: Sink) -> tuple[Counter[int], dict[int, set[str]]]:
    """Deliveries the receiver accepted (2xx) per order, and the Idempotency-Keys each order came with."""
    accepted: Counter[int] = Counter()
    keys: dict[int, set[str]] = defaultdict(set)
    for received in receiver.to("/deliver"):
        if len(received.body) < int(received.headers.get("content-length") or 0):
            continue  # cut off mid-body by a kill: refused by the receiver (sink.py), and without a whole order
        order = int(received.json["order"])
        keys[order].add(received.headers.get("idempotency-key", ""))
        if 200 <= received.status < 300:
            accepted[order] += 1
    return accepted, keys


def unsure_steps(database_url: str) -> tuple[int, int]:
    """Runs whose step a fault left unsure (the engine records each try that finds it so: a step row `unsure`, or
    `verified` when the `check` rule found it done at the target), and of those, the ones found done."""
    rows = query(
        database_url,
        "SELECT count(DISTINCT s.run_id) FILTER (WHERE s.status IN ('unsure', 'verified')) AS unsure, "
        "count(DISTINCT s.run_id) FILTER (WHERE s.status = 'verified') AS found "
        "FROM zaps_step s JOIN zaps_run r ON r.id = s.run_id WHERE r.automation = %s",
        AUTOMATION,
    )
    return int(rows[0]["unsure"]), int(rows[0]["found"])


def held_runs(database_url: str) -> dict[int, int]:
    """Run id -> order, of the runs held for review."""
    rows = query(
        database_url,
        "SELECT r.id, (e.payload ->> 'order')::int AS n FROM zaps_run r JOIN zaps_event e ON e.id = r.event_id "
        "WHERE r.automation = %s AND r.status = 'needs_review'",
        AUTOMATION,
    )
    return {int(row["id"]): int(row["n"]) for row in rows}


def listed_for_review(database_url: str) -> set[int]:
    """The run ids the owner is shown: the real `zaps runs list --status needs_review --json`, in its own process."""
    command = Path(sys.executable).with_name("zaps")  # the console script installed beside this interpreter
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    arguments = ["runs", "list", "--status", "needs_review", "--automation", AUTOMATION, "--limit", "10000", "--json"]
    result = subprocess.run(
        [str(command), *arguments],
        env=env,
        cwd=HERE,  # no .env of a developer's is read
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {int(run["id"]) for run in json.loads(result.stdout)}


def settle(database_url: str, acknowledged: set[int], *, fault_ended: float, tally: Tally) -> None:
    """Wait (bounded) until every acknowledged event's run is processed: the time from the end of the fault is the
    recovery time. The runs stuck are counted once the documented bound (plus the machine's margin) has passed."""
    at_bound = fault_ended + BOUND_S + MARGIN_S
    deadline = at_bound + DRAIN_S
    stuck_at_bound: int | None = None
    while True:
        now = time.monotonic()
        if stuck_at_bound is None and now >= at_bound:
            stuck_at_bound = len(stuck_runs(database_url))
        orders = processed_orders(database_url)
        if all(orders.get(n) in PROCESSED_STATES for n in acknowledged):
            tally.recovery_s = now - fault_ended
            break
        if now > deadline:
            late = {n: orders.get(n) for n in acknowledged if orders.get(n) not in PROCESSED_STATES}
            some = dict(list(late.items())[:10])
            raise AssertionError(f"{len(late)} acknowledged events not processed in time, e.g. {some}")
        time.sleep(0.1)
    if stuck_at_bound is None:  # recovered before the bound: still count at the bound, as the docs state it
        time.sleep(max(0.0, at_bound - time.monotonic()))
        stuck_at_bound = len(stuck_runs(database_url))
    tally.stuck_at_bound = stuck_at_bound
    tally.stuck_at_end = len(stuck_runs(database_url))


def check(
    tally: Tally, stream: Stream, database_url: str, receiver: Sink, *, extra: Callable[[], None] | None = None
) -> None:
    """The assertions every scenario shares; the tally goes on the board first, so a failure still shows it."""
    orders = processed_orders(database_url)
    accepted, keys = deliveries_by_order(receiver)
    tally.sent = stream.count
    tally.acknowledged = len(stream.acknowledged)
    tally.refused_answers = sum(stream.refusals.values())
    tally.refusals = ", ".join(f"{what} {n}" for what, n in stream.refusals.most_common()) or "none"
    tally.runs = len(orders)
    tally.deliveries = sum(accepted.values())
    tally.doubles = sum(n - 1 for n in accepted.values() if n > 1)
    tally.orders_with_two_keys = sum(len(k) > 1 for k in keys.values())
    tally.unsure, tally.found_done = unsure_steps(database_url)
    tally.checked = len(receiver.lookups)
    held = held_runs(database_url)
    tally.held = len(held)
    # The listing is the real CLI in its own process (seconds of imports): asked only when there is a run to list.
    tally.listed = len(set(held) & listed_for_review(database_url)) if held else 0
    undelivered = stream.acknowledged - set(accepted)
    tally.undelivered = len(undelivered)
    BOARD.append(tally.line())

    assert tally.acknowledged == stream.count  # every order was acknowledged in the end (refused ones resent)
    assert set(orders) == stream.acknowledged  # one run per acknowledged event, none for anything else
    assert run_states(database_url).keys() <= PROCESSED_STATES
    assert tally.stuck_at_bound == 0
    assert tally.stuck_at_end == 0
    assert tally.recovery_s < BOUND_S + MARGIN_S + DRAIN_S
    assert tally.orders_with_two_keys == 0  # a repeated delivery only ever with the same Idempotency-Key
    assert undelivered <= set(held.values())  # an order without a delivery is held, never silently dropped
    assert tally.listed == tally.held  # and every held run is shown to its owner
    if tally.rule == "resend":
        assert not undelivered  # every acknowledged event delivered at least once (repeats allowed, same key)
        assert tally.held == 0 and tally.checked == 0
    elif tally.rule == "check":
        assert tally.doubles == 0  # at most one delivery per order: an unsure step is asked about, not resent
        assert not undelivered  # the receiver said "not here" for each unsure one that did not arrive: sent then
        assert tally.held == 0
        assert tally.found_done <= tally.unsure <= tally.checked  # every unsure step was checked before anything
    else:
        assert tally.doubles == 0  # at most one delivery per order: an unsure step is held, not resent
        assert tally.checked == 0
        # Exact: every run whose step a fault left unsure is held, none resent and none finished otherwise. A stale
        # execution (its worker taken for dead while alive) cannot send once the run was queued again or claimed
        # anew (the claim fence, checked as the step is marked started), and no worker is taken for dead until the
        # database has answered again for STALLED_AFTER_S, so an outage cannot make a second execution at once.
        # Not `undelivered == held orders`: a held step whose request reached the receiver before the fault is held
        # too (the engine cannot tell), so the held orders are the undelivered ones plus some delivered once.
        assert tally.held == tally.unsure
    if extra:
        extra()


def iterate(every_s: float, times: int) -> Iterator[int]:
    for n in range(times):
        yield n
        time.sleep(every_s)
