"""Every connection's outcome, with the automations that use it, as text or JSON, and the command's exit status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable

from pydantic import ValidationError

from zaps.connections.builtins import check_smtp, write_only_urls
from zaps.connections.connectors import CHECKS, KNOWN, Options, check_other
from zaps.connections.outcome import Outcome, Status
from zaps.connections.users import Users
from zaps.logging import redactor
from zaps.settings import ZapsSettings, describe_error

LABELS = {
    Status.OK: "OK",
    Status.SHAPE_OK: "SHAPE OK",
    Status.FAILED: "FAILED",
    Status.NOT_CONFIGURED: "not configured",
}


async def check_all(options: Options, users: Users) -> list[Outcome]:
    """Every check at once: the command takes about as long as its slowest check, at most its time limit."""
    pending: list[Awaitable[Outcome]] = [CHECKS[connector.name](options) for connector in KNOWN]
    others = [c for name, c in users.connectors.items() if name not in CHECKS]
    pending += [check_other(connector, options) for connector in others]
    settings: ZapsSettings | None = None
    try:
        settings = ZapsSettings()
    except ValidationError as error:
        broken = Outcome("Zaps settings", Status.FAILED, describe_error(error).replace("\n", "; "))
    else:
        redactor.add(settings.secret_values())
        pending.append(check_smtp(settings, options.timeout_s))
    outcomes = list(await asyncio.gather(*pending))
    outcomes += write_only_urls(settings) if settings is not None else [broken]
    for outcome in outcomes:
        _attach_users(outcome, users)
    return outcomes


def _attach_users(outcome: Outcome, users: Users) -> None:
    outcome.used_by = sorted(users.by_connector.get(outcome.name, []))
    if outcome.used_by and outcome.status is Status.NOT_CONFIGURED:
        # Not configured is fine only while nothing needs it: here the service would refuse to start.
        outcome.status = Status.FAILED
        outcome.detail = f"not configured, but automations use it: {outcome.detail}"


def passed(outcomes: list[Outcome], users: Users) -> bool:
    return not users.problems and not any(outcome.failed for outcome in outcomes)


def as_text(outcomes: list[Outcome], users: Users) -> str:
    width = max(len(outcome.name) for outcome in outcomes)
    services = ", ".join(users.services) or "none"
    lines = [f"Connections (settings from the environment and .env; automations of the services: {services})"]
    for outcome in outcomes:
        lines.append(f"  {LABELS[outcome.status]:<14} {outcome.name:<{width}}  {outcome.detail}")
        if outcome.used_by:
            lines.append(f"  {'':<14} {'':<{width}}  used by {', '.join(outcome.used_by)}")
    lines += [f"  problem: {problem}" for problem in users.problems]
    failed = [outcome.name for outcome in outcomes if outcome.failed]
    checked = [outcome for outcome in outcomes if outcome.status is not Status.NOT_CONFIGURED]
    if failed or users.problems:
        lines.append(f"{len(failed)} of {len(checked)} configured connection(s) failed: {', '.join(failed) or '-'}")
    else:
        lines.append(f"All {len(checked)} configured connection(s) OK.")
    return redactor("\n".join(lines))  # no check prints a secret; this is the guard if one ever did


def as_json(outcomes: list[Outcome], users: Users) -> str:
    document = {
        "ok": passed(outcomes, users),
        "services": users.services,
        "problems": users.problems,
        "connections": [outcome.as_json() for outcome in outcomes],
    }
    return redactor(json.dumps(document, indent=2))
