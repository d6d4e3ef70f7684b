"""Alerts: dead runs (and runs held for review), and triggers silent for longer than they may be, go to every
configured channel (Slack, email, webhook), at most once per automation, kind and window, and are retried until
they arrive.

A run that dies is marked `alert_pending`. Housekeeping gathers them: once the oldest has waited `alert_gather_s`
(so a burst of failures lands in one alert) and the automation has had no dead-run alert in this window, one alert
lists them all: how many, their ids, and console links. A run that dies after its window's alert waits for the
next window's. So a dead run is alerted at most `alert_gather_s + housekeeping_interval_s` after it died, or at the
start of the next window.

`zaps_alert` is the outbox: the row is written before anything is sent. A channel that fails is tried again by
housekeeping after `alert_retry_first_s`, then twice as long each time (at most an hour), with the same idempotency
key, until `alert_max_attempts` tries; then the log says the alert could not be delivered at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import psycopg

from zaps.context import Runtime
from zaps.engine import alerts_repository
from zaps.engine.repository import Conn
from zaps.engine.statuses import RunStatus
from zaps.settings import SettingsT, ZapsSettings

logger = logging.getLogger(__name__)

MAX_RETRY_PAUSE_S = 3600
LEASE_S = 300  # a delivery in progress; if its process dies, housekeeping takes the alert up after this
MAX_LISTED_IDS = 50  # in the text; the webhook payload has up to MAX_PAYLOAD_IDS
MAX_PAYLOAD_IDS = 1000
MAX_LINKS = 10


def _names(runtime: Runtime[SettingsT]) -> list[str]:
    """What this service alerts about: its automations, and its pollers (a silent poller alerts on its source)."""
    service = runtime.service
    return [*service.automations, *(poller.source for poller in service.pollers.values())]


async def send(runtime: Runtime[SettingsT], *, automation: str, kind: str, text: str, detail: dict[str, Any]) -> bool:
    """Record and send an alert unless this window already had one; returns whether it was new. Delivery failures
    are retried later by housekeeping and never raised: an alert must not break what caused it."""
    async with runtime.database.transaction() as conn:
        claimed = await _claim(conn, runtime, automation=automation, kind=kind)
        if claimed is None:
            return False
        alert = await _fill(conn, claimed, text=text, payload=detail, run_ids=None)
    await deliver(runtime, alert)
    return True


async def silent_trigger(runtime: Runtime[SettingsT], *, automation: str, silent_for_s: float, limit_s: float) -> bool:
    text = (
        f"Zaps: {automation} has had no event for {silent_for_s / 60:.0f} min "
        f"(it may be silent for {limit_s / 60:.0f} min). Is its trigger still working?"
    )
    return await send(runtime, automation=automation, kind="silent_trigger", text=text, detail={})


async def send_dead_run_alerts(runtime: Runtime[SettingsT]) -> int:
    """One alert per automation whose dead runs have waited `alert_gather_s`, listing every one; returns how many
    alerts went out."""
    settings = runtime.settings
    async with runtime.database.connection() as conn:
        automations = await alerts_repository.automations_with_gathered_dead_runs(
            conn, _names(runtime), gather_s=settings.alert_gather_s
        )
    sent = 0
    for automation in automations:
        alert = None
        async with runtime.database.connection() as conn, conn.transaction() as transaction:
            claimed = await _claim(conn, runtime, automation=automation, kind="dead_run")
            if claimed is None:
                continue  # this window had its alert: these runs are listed in the next window's
            rows = await alerts_repository.take_pending_dead_runs(conn, automation)
            runs = sorted((row["id"], row["error"]) for row in rows if row["status"] == RunStatus.DEAD)
            held = sorted(row["id"] for row in rows if row["status"] == RunStatus.NEEDS_REVIEW)
            if not rows:
                raise psycopg.Rollback(transaction)  # another replica listed them meanwhile: no empty alert
            text, payload = _describe_dead_runs(settings, automation, runs, held)
            ids = sorted([run_id for run_id, _ in runs] + held)
            alert = await _fill(conn, claimed, text=text, payload=payload, run_ids=ids)
        if alert is not None:
            await deliver(runtime, alert)
            sent += 1
    return sent


def _describe_dead_runs(
    settings: ZapsSettings, automation: str, runs: list[tuple[int, str | None]], held: list[int]
) -> tuple[str, Any]:
    """The alert for an automation's dead runs and its runs held for review (a step that may have happened)."""
    console = settings.console_url.rstrip("/")
    ids = [run_id for run_id, _ in runs]
    lines: list[str] = []
    if ids:
        listed = ", ".join(str(run_id) for run_id in ids[:MAX_LISTED_IDS])
        more = f" and {len(ids) - MAX_LISTED_IDS} more" if len(ids) > MAX_LISTED_IDS else ""
        last_error = runs[-1][1] or "no error recorded"
        noun = "run" if len(ids) == 1 else "runs"
        lines += [f"Zaps: {len(ids)} dead {noun} of {automation}: {listed}{more}.", f"Latest error: {last_error[:500]}"]
    runs_url = f"{console}/runs?{urlencode({'automation': automation, 'status': RunStatus.DEAD})}"
    review_url = f"{console}/runs?{urlencode({'automation': automation, 'status': RunStatus.NEEDS_REVIEW})}"
    if ids:
        lines.append(f"All of them: {runs_url}")
    if held:
        listed = ", ".join(str(run_id) for run_id in held[:MAX_LISTED_IDS])
        more = f" and {len(held) - MAX_LISTED_IDS} more" if len(held) > MAX_LISTED_IDS else ""
        noun = "run needs" if len(held) == 1 else "runs need"
        lines += [
            f"Zaps: {len(held)} {noun} review in {automation}: {listed}{more}. A step may have happened and was "
            "not sent again: choose 'send again' or 'mark as done'.",
            f"All of them: {review_url}",
        ]
    everyone = sorted(ids + held)
    links = [f"{console}/runs/{run_id}" for run_id in everyone[:MAX_LINKS]]
    lines += links
    payload = {
        "count": len(ids),
        "run_ids": ids[:MAX_PAYLOAD_IDS],
        "runs_url": runs_url,
        "needs_review_count": len(held),
        "needs_review_ids": held[:MAX_PAYLOAD_IDS],
        "needs_review_url": review_url,
        "links": links,
        # The one-run shape of earlier alerts, kept for receivers that read it.
        "run_id": everyone[0],
    }
    return "\n".join(lines), payload


async def retry_undelivered(runtime: Runtime[SettingsT]) -> int:
    """Try again each alert whose delivery failed and whose pause is over; returns how many were tried."""
    async with runtime.database.connection() as conn:
        due = await alerts_repository.lease_due_retries(conn, _names(runtime), lease_s=LEASE_S)
    for alert in due:
        await deliver(runtime, alert)
    return len(due)


async def deliver(runtime: Runtime[SettingsT], alert: dict[str, Any]) -> bool:
    """Send to every channel that has not taken this alert yet; record the outcome. Returns whether all took it."""
    settings = runtime.settings
    channels = _channels(runtime, alert)
    automation, kind = alert["automation"], alert["kind"]
    attempts = alert["attempts"] + 1
    key = {"automation": automation, "kind": kind, "window_start": alert["window_start"]}
    if not channels:
        # Recorded in zaps_alert all the same (the console and Grafana show it); nothing to send it through.
        logger.warning("alert with no channel configured", extra={"automation": automation, "alert": kind})
        async with runtime.database.connection() as conn:
            await alerts_repository.record_no_channel(conn, key, attempts=attempts)
        return True
    done: list[str] = []
    failures: list[str] = []
    for name, sending in channels:
        try:
            await sending()
        except Exception as error:
            failures.append(f"{name}: {type(error).__name__}: {error}"[:1000])
        else:
            done.append(name)
    delivery_error = "; ".join(failures)[:4000] or None
    if not failures:
        async with runtime.database.connection() as conn:
            await alerts_repository.record_delivered(conn, key, attempts=attempts, done=done)
        logger.warning("alert sent", extra={"automation": automation, "alert": kind, "attempt": attempts})
        return True
    if attempts >= settings.alert_max_attempts:
        async with runtime.database.connection() as conn:
            await alerts_repository.record_given_up(conn, key, attempts=attempts, done=done, error=delivery_error)
        logger.error(
            "alert could not be delivered at all; giving up",
            extra={"automation": automation, "alert": kind, "attempts": attempts, "failures": failures},
        )
        return False
    pause = min(MAX_RETRY_PAUSE_S, settings.alert_retry_first_s * 2 ** (attempts - 1))
    async with runtime.database.connection() as conn:
        await alerts_repository.record_retry(
            conn, key, attempts=attempts, done=done, error=delivery_error, pause_s=pause
        )
    logger.error(
        "alert delivery failed; trying again",
        extra={"automation": automation, "alert": kind, "attempt": attempts, "retry_in_s": pause, "failures": failures},
    )
    return False


def _channels(runtime: Runtime[SettingsT], alert: dict[str, Any]) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    """The configured channels that have not taken this alert yet, each as a call that sends it."""
    settings, actions = runtime.settings, runtime.actions
    text: str = alert["detail"] or ""
    payload = alert["payload"] or {"automation": alert["automation"], "kind": alert["kind"], "text": text}
    key = f"alert/{alert['automation']}/{alert['kind']}/{int(alert['window_start'].timestamp())}"
    channels: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    if settings.alert_slack_webhook_url:
        url = settings.alert_slack_webhook_url.get_secret_value()
        channels.append(("slack", lambda: actions.slack.send(text=text, idempotency_key=key, webhook_url=url)))
    if settings.alert_email_to:
        to = [address.strip() for address in settings.alert_email_to.split(",") if address.strip()]
        subject = text.splitlines()[0][:120] if text else "Zaps alert"
        channels.append(("email", lambda: actions.email.send(to=to, subject=subject, body=text, idempotency_key=key)))
    if settings.alert_webhook_url:
        url = settings.alert_webhook_url
        channels.append(("webhook", lambda: actions.webhook.send(url=url, payload=payload, idempotency_key=key)))
    return [(name, sending) for name, sending in channels if name not in alert["channels_done"]]


async def _claim(conn: Conn, runtime: Runtime[SettingsT], *, automation: str, kind: str) -> dict[str, Any] | None:
    return await alerts_repository.claim(
        conn, automation=automation, kind=kind, window_s=runtime.settings.alert_window_s, lease_s=LEASE_S
    )


async def _fill(
    conn: Conn, claimed: dict[str, Any], *, text: str, payload: Any, run_ids: list[int] | None
) -> dict[str, Any]:
    # The stored payload names the alert (automation, kind, text) beside what the caller's `payload` holds.
    full = {"automation": claimed["automation"], "kind": claimed["kind"], "text": text, **payload}
    return await alerts_repository.fill(conn, claimed, text=text, payload=full, run_ids=run_ids)
