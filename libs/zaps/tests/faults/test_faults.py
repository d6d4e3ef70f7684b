"""The fault suite (issue 10, item 9): real service processes on a throw-away PostgreSQL server, a stream of signed
webhooks, and one fault forced per test. Each asserts, with counts: every acknowledged event's run processed (a run
held for review counts: it waits for its owner), no run stuck once the documented bound has passed, and at a
receiver that does not deduplicate, repeated deliveries of an order only ever with the same Idempotency-Key.

The two faults that can leave a step unsure (sent, its answer not recorded) run once per `on_unsure` rule of the
delivery step: `resend` repeats only with the same key; `check` and `hold` deliver each order at most once, and
every order without a delivery is held and listed by `zaps runs list --status needs_review`. The counts are
printed at the end of the session."""

import time
from pathlib import Path

import psycopg
import pytest
from faultkit import RULES, Rule, Services, Stream, Tally, check, iterate, query, settle
from zaps.testing.sink import Reply, Sink
from zaps.testing.throwaway_postgres import ThrowawayPostgres


def slow_receiver(receiver: Sink, count: int, delay_s: float = 0.05) -> None:
    """Each delivery takes a while to answer, so a fault finds runs in the middle of their step."""
    receiver.script(*(Reply(delay_s=delay_s) for _ in range(count)), path="/deliver")


# Orders per stream, by rule: `resend` keeps the scenario's own length; the `check` and `hold` variants, added to
# bound the suite's time, send fewer. Each stream still outlasts the first fault (1.5 s in), which meets steps in
# flight: that first fault is where the unsure steps come from.
KILL_ORDERS = {"resend": 400, "check": 200, "hold": 200}
OUTAGE_ORDERS = {"resend": 300, "check": 200, "hold": 200}


def runs_tried_again(database_url: str) -> int:
    return int(query(database_url, "SELECT count(*) AS n FROM zaps_run WHERE attempts > 1")[0]["n"])


@pytest.mark.parametrize("rule", RULES)
def test_worker_processes_killed_mid_run_lose_and_stick_nothing(
    fault_db: str, receiver: Sink, tmp_path: Path, rule: Rule
) -> None:
    slow_receiver(receiver, 2000, delay_s=0.2)
    tally = Tally("1 kill -9", rule=rule)
    with Services(fault_db, receiver.url, tmp_path, on_unsure=rule) as services:
        stream = Stream(services.urls, KILL_ORDERS[rule], rate=40).start()
        last_kill = time.monotonic()
        for slot in (0, 1, 0):  # the other process keeps serving and working meanwhile
            time.sleep(1.5)
            services.kill(slot)
            last_kill = time.monotonic()
            services.start(slot)
        stream.wait()
        stream.resend_refused()
        settle(fault_db, stream.acknowledged, fault_ended=last_kill, tally=tally)
        tally.faults = f"{services.kills} workers killed, {runs_tried_again(fault_db)} runs tried again"
    check(tally, stream, fault_db, receiver)
    assert services.kills == 3
    assert tally.unsure > 0  # a kill met steps sent and not recorded: the rule was put to work


@pytest.mark.parametrize("rule", RULES)
def test_postgresql_stopped_and_started_under_load(
    fault_db: str, receiver: Sink, throwaway_pg: ThrowawayPostgres, tmp_path: Path, rule: Rule
) -> None:
    slow_receiver(receiver, 2000, delay_s=0.2)  # long enough that an outage finds steps sent and not recorded
    tally = Tally("2 PostgreSQL down", rule=rule)
    with Services(fault_db, receiver.url, tmp_path, on_unsure=rule) as services:
        stream = Stream(services.urls, OUTAGE_ORDERS[rule], rate=40).start()
        down_s = 0.0
        for mode in ("immediate", "fast"):
            time.sleep(1.5)
            throwaway_pg.stop(mode=mode)
            stopped = time.monotonic()
            time.sleep(2.0)
            throwaway_pg.start()
            down_s += time.monotonic() - stopped
        back = time.monotonic()
        stream.wait()
        stream.resend_refused()
        settle(fault_db, stream.acknowledged, fault_ended=back, tally=tally)
        tally.faults = f"stopped twice (immediate, fast), down {down_s:.1f} s in all"
    check(tally, stream, fault_db, receiver)
    assert sum(stream.refusals.values()) > 0  # the outage was felt by the sender, and refused, not acknowledged
    assert tally.unsure > 0  # an outage met steps sent and not recorded: the rule was put to work


def terminate_backends(database_url: str) -> int:
    """pg_terminate_backend of every other connection to the test's database: the services' pools and workers."""
    rows = query(
        database_url,
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    return int(rows[0]["n"])


def test_pooled_connections_terminated_under_load(fault_db: str, receiver: Sink, tmp_path: Path) -> None:
    slow_receiver(receiver, 2000)
    tally = Tally("3 connections terminated")
    with Services(fault_db, receiver.url, tmp_path) as services:
        stream = Stream(services.urls, 300, rate=40).start()
        time.sleep(1.0)
        terminated = sum(terminate_backends(fault_db) for _ in iterate(0.8, 6))
        last = time.monotonic()
        stream.wait()
        stream.resend_refused()
        settle(fault_db, stream.acknowledged, fault_ended=last, tally=tally)
        tally.faults = f"{terminated} backends terminated in 6 rounds"
    check(tally, stream, fault_db, receiver)
    assert terminated >= 12


def test_lock_timeouts_on_run_rows(fault_db: str, receiver: Sink, tmp_path: Path) -> None:
    """Another connection holds the active runs' row locks while the services wait at most 200 ms for a lock:
    once for less than the claim's and finish's retries (~4 s), then for longer, so that jobs fail and housekeeping
    must queue their runs again."""
    slow_receiver(receiver, 2000)
    tally = Tally("4 lock timeouts")
    with Services(fault_db, receiver.url, tmp_path, PGOPTIONS="-c lock_timeout=200ms") as services:
        stream = Stream(services.urls, 250, rate=30).start()
        locked: set[int] = set()
        for hold_s in (1.5, 6.0):
            time.sleep(1.5)
            with psycopg.connect(fault_db) as conn:  # one transaction: the locks last until it ends
                held_until = time.monotonic() + hold_s
                while time.monotonic() < held_until:  # runs that arrive meanwhile are locked as they come
                    rows = conn.execute(
                        "SELECT id FROM zaps_run WHERE status IN ('queued', 'running', 'retrying') "
                        "FOR UPDATE SKIP LOCKED"
                    ).fetchall()
                    locked |= {row[0] for row in rows}
                    time.sleep(0.2)
        released = time.monotonic()
        stream.wait()
        stream.resend_refused()
        settle(fault_db, stream.acknowledged, fault_ended=released, tally=tally)
        failed = int(query(fault_db, "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'failed'")[0]["n"])
        recovered = int(query(fault_db, "SELECT count(*) AS n FROM zaps_run WHERE recoveries > 0")[0]["n"])
        tally.faults = (
            f"{len(locked)} run rows locked in two holds (1.5 s, then 6 s), {failed} jobs failed, "
            f"{recovered} runs queued again"
        )
    check(tally, stream, fault_db, receiver)
    assert locked
    assert recovered > 0  # the long hold outlasted the retries: housekeeping, not luck, recovered these


def test_a_target_that_fails_then_recovers(fault_db: str, receiver: Sink, tmp_path: Path) -> None:
    failures = [Reply(503) for _ in range(120)] + [Reply(429, headers={"Retry-After": "1"}) for _ in range(40)]
    receiver.script(*failures, path="/deliver")
    tally = Tally("5 target 503/429")
    with Services(fault_db, receiver.url, tmp_path) as services:
        stream = Stream(services.urls, 200, rate=40).start()
        stream.wait()
        stream.resend_refused()
        deadline = time.monotonic() + 30
        while sum(r.status >= 400 for r in receiver.to("/deliver")) < len(failures):
            assert time.monotonic() < deadline, "the target's failures were not all met in 30 s"
            time.sleep(0.1)
        recovered_at = max(r.at for r in receiver.to("/deliver") if r.status >= 400)
        settle(fault_db, stream.acknowledged, fault_ended=recovered_at, tally=tally)
        tally.faults = f"{len(failures)} answers 503 or 429 (Retry-After: 1) before 200s"
    check(tally, stream, fault_db, receiver)
    # A 5xx or 429 means not done: the receiver accepted each order once, however often it was tried.
    assert tally.doubles == 0
