"""`zaps connections check [--service NAME] [--spreadsheet ID] [--slack-channel C…] [--timeout S] [--json]`.

Exit status 0 when every configured connection is OK (a write-only URL of the right shape counts), 1 otherwise
(a failed check, a connector an automation uses that is not configured, a service that cannot be read), 2 for a
usage error."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

MAX_TIMEOUT_S = 120.0


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < seconds <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TIMEOUT_S:g} s")
    return seconds


def add_command(commands: Any) -> None:
    connections = commands.add_parser("connections", help="check the outside services Zaps is configured to use")
    sub = connections.add_subparsers(dest="connections_command", required=True)
    check = sub.add_parser(
        "check",
        help="one harmless read per configured connection: OK, or why not (nothing is written or posted)",
        description="Settings come from the environment and .env, as the services read them. A connector that is "
        "not configured is listed as such, and fails only when an automation of the services uses it. Exit "
        "status 0 when every configured connection is OK, 1 otherwise.",
    )
    check.add_argument(
        "--service",
        action="append",
        dest="services",
        metavar="NAME",
        help="read the automations of this installed service only (or module:attribute; repeatable); default: every "
        "installed service",
    )
    check.add_argument(
        "--spreadsheet",
        action="append",
        default=[],
        metavar="ID",
        help="a Google spreadsheet to read (repeatable); default: GOOGLE_SHEETS_CHECK_SPREADSHEET_ID",
    )
    check.add_argument("--slack-channel", metavar="CHANNEL", help="a channel to read; default: SLACK_DEFAULT_CHANNEL")
    check.add_argument("--timeout", type=_timeout, default=10.0, help="seconds each check may take (default 10)")
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from zaps.connections.connectors import Options
    from zaps.connections.report import as_json, as_text, check_all, passed
    from zaps.connections.users import find_users

    users = find_users(args.services)
    options = Options(timeout_s=args.timeout, spreadsheet_ids=tuple(args.spreadsheet), slack_channel=args.slack_channel)
    outcomes = asyncio.run(check_all(options, users))
    print(as_json(outcomes, users) if args.json else as_text(outcomes, users))
    return 0 if passed(outcomes, users) else 1
