"""`zaps runs …`: list, show and replay runs, and settle runs held for review, straight from the database
(DATABASE_URL). Replaying and settling go through `zaps.engine.operations`, as the admin API and the console do."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from zaps.engine import operations, repository
from zaps.engine.admin import parse_since
from zaps.engine.statuses import RunStatus
from zaps.run_summary import summarize
from zaps.settings import ZapsSettings

MAX_LIMIT = 10_000
STATUSES = [status.value for status in RunStatus]  # plain strings: argparse shows the choices with repr()


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

    show = sub.add_parser("show", help="one run: event, attempts, steps, ledger keys")
    show.add_argument("run_id", type=_run_id)
    show.add_argument("--json", action="store_true", help="print the whole record as JSON instead of a summary")
    show.set_defaults(func=_show)

    replay = sub.add_parser("replay", help="queue runs again with the current code (done steps are skipped)")
    replay.add_argument("run_ids", type=_run_id, nargs="*", help="run ids; or select with --automation")
    replay.add_argument("--automation")
    replay.add_argument("--status", choices=STATUSES, default=RunStatus.DEAD.value)
    replay.add_argument("--since", type=_since, help="24h, 30m, 7d or an ISO time")
    replay.set_defaults(func=_replay)

    settlements: list[tuple[str, operations.Settle, str]] = [
        ("send-again", operations.send_again, "send its unsure step again (same idempotency key), then go on"),
        ("mark-done", operations.mark_done, "record its unsure step as done without sending it, then go on"),
    ]
    for command, settle_with, what in settlements:
        settle = sub.add_parser(command, help=f"a run that needs review: {what}")
        settle.add_argument("run_id", type=_run_id)
        settle.set_defaults(func=_settle, settle=settle_with)


def _settings() -> ZapsSettings:
    from zaps.settings import load_settings

    return load_settings(ZapsSettings)


@asynccontextmanager
async def _connect(settings: ZapsSettings) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """An autocommit connection: each operation commits its own work, then wakes the workers."""
    from zaps.app import resolve_database_url

    url = resolve_database_url(settings)
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row, autocommit=True) as conn:
        yield conn


def _list(args: argparse.Namespace) -> int:
    async def fetch() -> list[dict[str, Any]]:
        async with _connect(_settings()) as conn:
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
    print(f"{'ID':>8}  {'STATUS':<12} {'TRIES':>5}  {'CREATED (UTC)':<19}  {'AUTOMATION':<32} NOTE")
    for row in runs:
        note = row["filter_reason"] or row["error"] or ""
        created = row["created_at"].strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{row['id']:>8}  {row['status']:<12} {row['attempts']:>5}  {created:<19}  {row['automation']:<32} "
            f"{note[:60]}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    settings = _settings()

    async def fetch_one() -> dict[str, Any] | None:
        async with _connect(settings) as conn:
            return await repository.get_run(conn, args.run_id)

    found = asyncio.run(fetch_one())
    if found is None:
        print(f"run {args.run_id} does not exist")
        return 1
    if args.json:
        print(json.dumps(repository.to_json(found), indent=2))
    else:
        print(summarize(found, console_url=settings.console_url or None))
    return 0


def _replay(args: argparse.Namespace) -> int:
    if not args.run_ids and not args.automation:
        print("give run ids, or --automation NAME (with --status and --since)")
        return 2
    settings = _settings()

    async def queue_again() -> repository.Replayed:
        async with _connect(settings) as conn:
            if args.run_ids:
                return await operations.replay(conn, args.run_ids, stalled_after_s=settings.stalled_after_s)
            return await operations.replay_selection(
                conn,
                automation=args.automation,
                status=RunStatus(args.status),
                since=parse_since(args.since),
                stalled_after_s=settings.stalled_after_s,
            )

    replayed = asyncio.run(queue_again())
    print(f"queued {len(replayed.queued)} run(s) for replay" + (f": {replayed.queued}" if replayed.queued else ""))
    for run_id, why in replayed.refused.items():
        print(f"not replayed: run {run_id}: {why}")
    return 0 if replayed.queued or not replayed.refused else 1


def _settle(args: argparse.Namespace) -> int:
    settle: operations.Settle = args.settle

    async def decide() -> str | None:
        async with _connect(_settings()) as conn:
            try:
                await settle(conn, args.run_id, by="CLI")
            except operations.NotHeld as held:
                return str(held)
            return None

    refused = asyncio.run(decide())
    if refused is not None:
        print(refused)
        return 1
    done = "will send its unsure step again" if settle is operations.send_again else "has its unsure step marked done"
    print(f"run {args.run_id} {done}, and is queued to go on")
    return 0
