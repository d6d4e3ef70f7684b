"""Alerts: a dead run, or a trigger silent longer than it may be, goes to every configured channel (Slack, email,
webhook), at most once per automation, kind and window."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_CLAIM = """
INSERT INTO zaps_alert (automation, kind, window_start, detail)
VALUES (%(automation)s, %(kind)s,
        to_timestamp(floor(extract(epoch FROM now()) / %(window)s) * %(window)s), %(detail)s)
ON CONFLICT DO NOTHING
RETURNING window_start
"""


async def dead_run(runtime: Any, *, automation: str, run_id: int, error: str) -> bool:
    text = f"Zaps: run {run_id} of {automation} is dead after its last attempt. {error}"
    return await send(runtime, automation=automation, kind="dead_run", text=text, detail={"run_id": run_id})


async def silent_trigger(runtime: Any, *, automation: str, silent_for_s: float, limit_s: float) -> bool:
    text = (
        f"Zaps: {automation} has had no event for {silent_for_s / 60:.0f} min "
        f"(it may be silent for {limit_s / 60:.0f} min). Is its trigger still working?"
    )
    return await send(runtime, automation=automation, kind="silent_trigger", text=text, detail={})


async def send(runtime: Any, *, automation: str, kind: str, text: str, detail: dict[str, Any]) -> bool:
    """Send unless this window already had one; returns whether it was sent. Delivery failures are recorded and
    logged, never raised: an alert must not break the run that caused it."""
    settings = runtime.settings
    async with runtime.database.connection() as conn:
        cursor = await conn.execute(
            _CLAIM, {"automation": automation, "kind": kind, "window": settings.alert_window_s, "detail": text}
        )
        claimed = await cursor.fetchone()
    if claimed is None:
        return False
    key = f"alert/{automation}/{kind}/{int(claimed['window_start'].timestamp())}"
    failures = []
    actions = runtime.actions
    channels: list[tuple[str, Any]] = []
    if settings.alert_slack_webhook_url:
        url = settings.alert_slack_webhook_url.get_secret_value()
        channels.append(("slack", actions.slack.send(text=text, idempotency_key=key, webhook_url=url)))
    if settings.alert_email_to:
        to = [address.strip() for address in settings.alert_email_to.split(",") if address.strip()]
        channels.append(("email", actions.email.send(to=to, subject=text[:120], body=text, idempotency_key=key)))
    if settings.alert_webhook_url:
        payload = {"automation": automation, "kind": kind, "text": text, **detail}
        channels.append(
            ("webhook", actions.webhook.send(url=settings.alert_webhook_url, payload=payload, idempotency_key=key))
        )
    if not channels:
        # Recorded in zaps_alert all the same (the console and Grafana show it); nothing to send it through.
        logger.warning("alert with no channel configured", extra={"automation": automation, "alert": kind})
        return True
    for name, delivery in channels:
        try:
            await delivery
        except Exception as error:
            failures.append(f"{name}: {type(error).__name__}: {error}")
    if failures:
        logger.error("alert delivery failed", extra={"automation": automation, "failures": failures})
        async with runtime.database.connection() as conn:
            await conn.execute(
                "UPDATE zaps_alert SET delivery_error = %s WHERE automation = %s AND kind = %s AND window_start = %s",
                ("; ".join(failures)[:4000], automation, kind, claimed["window_start"]),
            )
    else:
        logger.warning("alert sent", extra={"automation": automation, "alert": kind, "channels": len(channels)})
    return True
