"""`zaps runs …`: list, show and replay runs, and settle runs held for review, straight from the database
(DATABASE_URL)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from zaps.engine import repository, wakeup
from zaps.engine.admin import parse_since

MAX_LIMIT = 10_000
STATUSES = ["queued", "running", "succeeded", "filtered", "retrying", "dead", "paused", "needs_review"]


def _since(value: str) -> str:
    """A usage error, not a traceback, for a --since that is neither a duration nor a time."""
    try:
        parse_since(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _run_id(value: str) -> int:
    """A run id PostgreSQL's bigint can hold: a usage error, not a traceback, for anything else."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a run id: {value!r}") from None
    if not 0 < number < 2**62:
        raise argparse.ArgumentTypeError(f"not a run id: {value} (runs are numbered from 1)")
    return number


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 1 <= number <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_LIMIT}, not {value}")
    return number


def add_commands(commands: Any) -> None:
    runs = commands.add_parser("runs", help="list, show and replay automation runs")
    sub = runs.add_subparsers(dest="runs_command", required=True)

    listing = sub.add_parser("list", help="runs, newest first")
    listing.add_argument("--automation", help="e.g. test.big-orders")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--since", type=_since, help="24h, 30m, 7d or an ISO time")
    listing.add_argument("--limit", type=_limit, default=20, help=f"at most {MAX_LIMIT}")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_list)

    show = sub.add_parser("show", help="one run: event, attempts, steps")
    show.add_argument("run_id", type=_run_id)
    show.set_defaults(func=_show)

    replay = sub.add_parser("replay", help="queue runs again with the current code (done steps are skipped)")
    replay.add_argument("run_ids", type=_run_id, nargs="*", help="run ids; or select with --automation")
    replay.add_argument("--automation")
    replay.add_argument("--status", choices=STATUSES, default="dead")
    replay.add_argument("--since", type=_since, help="24h, 30m, 7d or an ISO time")
    replay.set_defaults(func=_replay)

    for command, decision, what in (
        ("send-again", "send_again", "send its unsure step again (same idempotency key), then go on"),
        ("mark-done", "mark_done", "record its unsure step as done without sending it, then go on"),
    ):
        settle = sub.add_parser(command, help=f"a run that needs review: {what}")
        settle.add_argument("run_id", type=_run_id)
        settle.set_defaults(func=_settle, decision=decision)


def _database_url() -> str:
    from zaps.app import resolve_database_url
    from zaps.settings import ZapsSettings, load_settings

    return resolve_database_url(load_settings(ZapsSettings))


async def _connect() -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(_database_url(), row_factory=dict_row, autocommit=True)


def _list(args: argparse.Namespace) -> int:
    async def fetch() -> list[dict[str, Any]]:
        async with await _connect() as conn:
            return await repository.list_runs(
                conn, automation=args.automation, status=args.status, since=parse_since(args.since), limit=args.limit
            )

    runs = asyncio.run(fetch())
    if args.json:
        print(json.dumps(repository.to_json(runs), indent=2))
        return 0
    if not runs:
        print("no runs")
        return 0
    print(f"{'ID':>8}  {'STATUS':<10} {'TRIES':>5}  {'CREATED (UTC)':<19}  {'AUTOMATION':<32} NOTE")
    for row in runs:
        note = row["filter_reason"] or row["error"] or ""
        created = row["created_at"].strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{row['id']:>8}  {row['status']:<10} {row['attempts']:>5}  {created:<19}  {row['automation']:<32} "
            f"{note[:60]}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    async def fetch_one() -> dict[str, Any] | None:
        async with await _connect() as conn:
            return await repository.get_run(conn, args.run_id)

    found = asyncio.run(fetch_one())
    if found is None:
        print(f"run {args.run_id} does not exist")
        return 1
    print(json.dumps(repository.to_json(found), indent=2))
    return 0


def _replay(args: argparse.Namespace) -> int:
    if not args.run_ids and not args.automation:
        print("give run ids, or --automation NAME (with --status and --since)")
        return 2

    async def queue_again() -> repository.Replayed:
        async with await _connect() as conn:
            async with conn.transaction():
                ids = args.run_ids or await repository.select_replayable(
                    conn, automation=args.automation, status=args.status, since=parse_since(args.since)
                )
                replayed = await repository.replay(conn, ids)
            await wakeup.notify(conn, replayed.queues)  # after the commit, so the workers find the jobs
            return replayed

    replayed = asyncio.run(queue_again())
    print(f"queued {len(replayed.queued)} run(s) for replay" + (f": {replayed.queued}" if replayed.queued else ""))
    for run_id, why in replayed.refused.items():
        print(f"not replayed: run {run_id}: {why}")
    return 0 if replayed.queued or not replayed.refused else 1


def _settle(args: argparse.Namespace) -> int:
    async def settle() -> repository.Replayed | str:
        async with await _connect() as conn:
            try:
                async with conn.transaction():
                    replayed = await repository.resolve_held(conn, args.run_id, decision=args.decision, by="CLI")
            except repository.NotHeld:
                cursor = await conn.execute("SELECT status FROM zaps_run WHERE id = %s", (args.run_id,))
                row = await cursor.fetchone()
                return f"run {args.run_id} is {row['status']}, not needs_review" if row else f"no run {args.run_id}"
            await wakeup.notify(conn, replayed.queues)
            return replayed

    outcome = asyncio.run(settle())
    if isinstance(outcome, str):
        print(outcome)
        return 1
    done = "will send its unsure step again" if args.decision == "send_again" else "has its unsure step marked done"
    print(f"run {args.run_id} {done}, and is queued to go on")
    return 0
