"""`zaps runs show ID` prints a summary a person reads at a glance (`--json`: the whole record), and after a replay
it tells the latest execution's duration and attempts, not ones spanning the replay."""

import json
import os
import re
import subprocess
import sys

from helpers import add_automation, connect, query
from zaps.engine import operations, repository
from zaps.engine.statuses import RunStatus, StepStatus

AUTOMATION = "ops.deliver"


def zaps_runs_show(database_url, tmp_path, *args):
    # In an empty folder, so a developer's .env cannot reach the command.
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "CONSOLE_URL": "https://zaps.example.com/console/",
    }
    return subprocess.run(
        [sys.executable, "-m", "zaps.cli", "runs", "show", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def execute(conn, run_id, event_id, *, ends: RunStatus, error=None):
    """One attempt as the executor makes it: claimed, its step `deliver` recorded, then finished as `ends`."""
    async with conn.transaction():
        claimed = await repository.claim_run(conn, run_id, "worker-1", "abc1234")
    key = f"{AUTOMATION}/{event_id}/deliver"
    async with conn.transaction():
        await repository.ledger_begin(conn, automation=AUTOMATION, event_id=event_id, step="deliver", key=key)
    async with conn.transaction():
        if ends == RunStatus.SUCCEEDED:
            await repository.ledger_complete(conn, key=key, output={"ok": True})
        else:
            await repository.ledger_not_done(conn, key=key)
        status = StepStatus.SUCCEEDED if ends == RunStatus.SUCCEEDED else StepStatus.FAILED
        await repository.record_step(
            conn,
            run_id=run_id,
            attempt=claimed["attempts"],
            name="deliver",
            status=status,
            input={"n": 1},
            output=None,
            error=error,
            duration_ms=12.0,
        )
        await repository.finish_run(conn, run_id, status=ends, error=error)


async def test_a_replayed_run_shows_its_latest_execution_in_a_short_summary(database_url, tmp_path):
    add_automation(database_url, max_attempts=4)
    async with connect(database_url) as conn:
        async with conn.transaction():
            ingested = await repository.ingest(conn, source=AUTOMATION, key="order-1", payload={"n": 1})
        run_id, event_id = ingested.run_ids[0], ingested.event_id
        await execute(conn, run_id, event_id, ends=RunStatus.DEAD, error="PermanentError: the target answered 400")
        # The first execution began a minute ago: a duration spanning the replay would say about 64 s.
        query(
            database_url,
            "UPDATE zaps_run SET started_at = now() - interval '64 seconds' WHERE id = %s RETURNING id",
            run_id,
        )
        await operations.replay(conn, [run_id], stalled_after_s=30)
        await execute(conn, run_id, event_id, ends=RunStatus.SUCCEEDED)

    shown = zaps_runs_show(database_url, tmp_path, str(run_id))
    raw = zaps_runs_show(database_url, tmp_path, "--json", str(run_id))

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) < 15  # not the ~90 lines of JSON it printed before
    assert lines[0] == f"Run {run_id}   {AUTOMATION}   succeeded"
    summary = {line[:10].strip(): line[11:] for line in lines[1:] if not line.startswith(" ")}
    assert summary["Event"].startswith(f"{event_id} from {AUTOMATION}, key order-1, received ")
    assert re.fullmatch(r"1 of 4 since it was queued again at .+ UTC \(1 before that\)", summary["Attempt"])
    assert re.fullmatch(r"\d+ ms|\d\.\d s", summary["Took"]), summary["Took"]  # this execution's, not 64 s
    assert re.search(r"^  #1  deliver  succeeded +12 ms$", shown.stdout, re.MULTILINE)
    assert "  (1 step(s) of earlier executions: --json shows them)" in lines
    assert re.search(rf"^  deliver  succeeded 2 tries +key {AUTOMATION}/{event_id}/deliver$", shown.stdout, re.M)
    assert summary["Console"] == f"https://zaps.example.com/console/runs/{run_id}"

    record = json.loads(raw.stdout)
    assert record["status"] == "succeeded" and len(record["steps"]) == 2
    assert [attempt["outcome"] for attempt in record["attempt_log"]] == ["dead", "replayed", "succeeded"]


async def test_a_dead_run_shows_its_error_and_each_failed_step_on_one_line(database_url, tmp_path):
    add_automation(database_url, max_attempts=1)
    async with connect(database_url) as conn:
        async with conn.transaction():
            ingested = await repository.ingest(conn, source=AUTOMATION, key="order-2", payload={})
        error = "PermanentError: webhook target answered 400\nwith a body\nof many lines"
        await execute(conn, ingested.run_ids[0], ingested.event_id, ends=RunStatus.DEAD, error=error)

    shown = zaps_runs_show(database_url, tmp_path, str(ingested.run_ids[0]))
    missing = zaps_runs_show(database_url, tmp_path, "987654")

    assert "Attempt    1 of 1\n" in shown.stdout
    assert "Error      PermanentError: webhook target answered 400 with a body of many lines\n" in shown.stdout
    assert re.search(r"^  #1  deliver  failed +12 ms  PermanentError: webhook target", shown.stdout, re.MULTILINE)
    assert "  deliver  not_done  1 try" in shown.stdout
    assert (missing.returncode, missing.stdout) == (1, "run 987654 does not exist\n")
