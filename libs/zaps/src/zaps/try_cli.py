"""`zaps run <automation> --event sample.json [--dry-run]`: try an automation once, in the foreground.

The sample is stored as a real event and run through the engine's own executor in this process (no worker, no
job), so the trial is in the run history like any run, marked as one (`engine.trials`). Each step is printed:
name, status, what it sent, its output and duration. With `--dry-run` every step records what it would send and
sends nothing. The service is found as `zaps serve` finds it (the `zaps.services` entry points), its settings read
from the environment and `.env`, its database from DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
from psycopg.rows import dict_row

from zaps.logging import redact
from zaps.settings import ZapsSettings

SHOWN_CHARS = 2000  # of each step's input or output: `zaps runs show <id> --json` has them whole


class TrialError(Exception):
    """A mistake in what was asked (a file, a name, a kind): said in one line, never as a traceback."""


def add_command(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="try an automation once, now, on a sample event (recorded as a trial run)",
        description="Stores the sample as an event, runs the automation on it in the foreground and prints each "
        "step. Exit status 0 when the run succeeds or is filtered, 1 when it fails, 2 for a usage error.",
    )
    run.add_argument("automation", help="its full name, e.g. test.big-orders")
    run.add_argument("--event", required=True, type=Path, help="a JSON file: the event's payload")
    run.add_argument("--kind", help="the event's kind, for an automation that listens to a poller's kinds")
    run.add_argument("--dry-run", action="store_true", help="record what each step would send; send nothing")
    run.set_defaults(func=_run)


def read_sample(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TrialError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TrialError(f"{path} is not JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None


def _run(args: argparse.Namespace) -> int:
    from zaps.registry import get_service

    try:
        payload = read_sample(args.event)
        service_name, _, local = args.automation.partition(".")
        if not local:
            raise TrialError(f"give the automation's full name, <service>.<automation>, not {args.automation!r}")
        try:
            service = get_service(service_name)
        except SystemExit as unknown:  # the registry's own message names the installed services
            raise TrialError(str(unknown)) from None
        from zaps.service import Service

        assert isinstance(service, Service)  # the registry loads only Service objects
        service.load()
        automation = service.automations.get(args.automation)
        if automation is None:
            known = ", ".join(sorted(service.automations)) or "none"
            raise TrialError(f"no automation {args.automation!r} in the {service_name} service; it has: {known}")
        kind = _kind(args.kind, automation.kinds)
    except TrialError as error:
        print(f"zaps run: {error}", file=sys.stderr)
        return 2
    settings = service.load_settings()
    from zaps.logging import configure_logging

    # Logs to stderr: stdout is the report.
    configure_logging(service="zaps-run", level=settings.log_level, secrets=settings.secret_values(), stream=sys.stderr)
    try:
        run = asyncio.run(_trial(service, settings, automation.name, automation.source, kind, payload, args.dry_run))
    except (psycopg.OperationalError, OSError) as error:
        print(redact(f"zaps run: the database did not answer: {error}", settings.secret_values()), file=sys.stderr)
        return 1
    print(redact(report(run, dry_run=args.dry_run), settings.secret_values()))
    if run["status"] in ("succeeded", "filtered"):
        return 0
    print(redact(f"zaps run: the run is {run['status']}: {run['error']}", settings.secret_values()), file=sys.stderr)
    return 1


def _kind(given: str | None, kinds: list[str] | None) -> str | None:
    if given is not None:
        if kinds is not None and given not in kinds:
            raise TrialError(f"this automation takes the kinds {', '.join(kinds)}, not {given!r}")
        return given
    if kinds is not None and len(kinds) > 1:
        raise TrialError(f"give the event's --kind: one of {', '.join(kinds)}")
    return kinds[0] if kinds else None


async def _trial(
    service: Any, settings: ZapsSettings, name: str, source: str, kind: str | None, payload: Any, dry_run: bool
) -> dict[str, Any]:
    """Store the trial, execute it here as a worker would, and read it back as `zaps runs show` does."""
    from zaps import cache
    from zaps.actions.configured import build_actions
    from zaps.app import resolve_database_url
    from zaps.context import Runtime
    from zaps.db import Database
    from zaps.engine import executor, repository, trial_repository
    from zaps.engine.statuses import ALERTED
    from zaps.engine.wakeup import Wakeup
    from zaps.migrate import migrate

    url = resolve_database_url(settings)
    # As a service does at start: a first trial, before `make dev` ever ran, finds its tables (idempotent).
    await asyncio.to_thread(migrate, url, allow_foreign_tables=settings.allow_foreign_tables)
    async with AsyncExitStack() as stack:
        database = Database(url, min_size=1, max_size=4, name="zaps-run")
        await database.open()
        stack.push_async_callback(database.close)
        redis_client = cache.create_redis(settings.redis_url.get_secret_value() if settings.redis_url else None)
        stack.push_async_callback(redis_client.aclose)
        stack.enter_context(service.queue.replace_connector(procrastinate.PsycopgConnector()))
        await service.queue.open_async(database.pool)
        stack.push_async_callback(service.queue.close_async)
        actions = build_actions(settings)
        stack.push_async_callback(actions.aclose)
        runtime: Runtime[Any] = Runtime(
            service=service,
            settings=settings,
            database=database,
            redis=redis_client,
            queue=service.queue,
            actions=actions,
            wakeup=Wakeup(database),  # not started: a trial queues nothing to wake workers for
        )
        stack.push_async_callback(runtime.close_resources)
        service.bind(runtime)
        async with database.transaction() as conn:
            _, run_id = await trial_repository.store_trial(
                conn,
                automation=name,
                source=source,
                kind=kind,
                payload=payload,
                mode="dry-run" if dry_run else "send",
                code_version=settings.code_version,
            )
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as holder:
            await trial_repository.hold(holder, run_id)
            await executor.execute(runtime, run_id)
            await holder.rollback()
        async with database.connection() as conn:
            found = await repository.get_run(conn, run_id)
            assert found is not None  # stored above; trials are not deleted while they run
            if found["status"] in ALERTED:
                await trial_repository.no_alert(conn, run_id)
        return found


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"… ({len(text)} characters)"


def report(run: dict[str, Any], *, dry_run: bool) -> str:
    """What `zaps run` prints: the trial, each step with what it sent and got, and how the run ended."""
    from zaps.run_summary import format_duration

    mode = "dry run: nothing was sent" if dry_run else "steps were sent for real"
    lines = [f"Trial run {run['id']} of {run['automation']} on event {run['event_id']} ({mode})"]
    for step in run["steps"]:
        duration = format_duration(step["duration_ms"] / 1000 if step["duration_ms"] is not None else None)
        lines.append(f"  step {step['name']}: {step['status']} in {duration}")
        lines.append(f"    {'would send' if dry_run else 'sent'}: {_shown(step['input'])}")
        if step["output"] is not None:
            lines.append(f"    output: {_shown(step['output'])}")
        if step["error"]:
            lines.append(f"    error: {step['error']}")
    if not run["steps"]:
        lines.append("  no steps")
    took = run["finished_at"] - run["started_at"] if run["finished_at"] and run["started_at"] else None
    ending = f"{run['status']} in {format_duration(took.total_seconds() if took else None)}"
    if run["filter_reason"]:
        ending += f": {run['filter_reason']}"
    elif run["error"]:
        ending += f": {run['error']}"
    lines.append(f"Run {ending}")
    lines.append(f"History: zaps runs show {run['id']}")
    return "\n".join(lines)
