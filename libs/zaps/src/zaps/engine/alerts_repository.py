"""The SQL of alerts: the `zaps_alert` outbox, and the dead runs waiting to be listed in one. Functions take an open
connection, so the caller decides the transaction. An alert is a row as a dict (`automation`, `kind`,
`window_start`, `detail`, `payload`, `channels_done`, `attempts`); its key is the first three."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from zaps.engine.repository import Conn

_CLAIM = """
INSERT INTO zaps_alert (automation, kind, window_start, next_attempt_at)
VALUES (%(automation)s, %(kind)s, to_timestamp(floor(extract(epoch FROM now()) / %(window)s) * %(window)s),
        now() + make_interval(secs => %(lease)s))
ON CONFLICT DO NOTHING
RETURNING automation, kind, window_start
"""
_FILL = """
UPDATE zaps_alert SET detail = %(text)s, payload = %(payload)s, run_ids = %(run_ids)s
WHERE automation = %(automation)s AND kind = %(kind)s AND window_start = %(window_start)s
RETURNING automation, kind, window_start, detail, payload, channels_done, attempts
"""


async def claim(conn: Conn, *, automation: str, kind: str, window_s: float, lease_s: float) -> dict[str, Any] | None:
    """Write the alert of this `window_s` window, leased for `lease_s`; None if the window already has one.
    Returns its key."""
    cursor = await conn.execute(_CLAIM, {"automation": automation, "kind": kind, "window": window_s, "lease": lease_s})
    claimed: dict[str, Any] | None = await cursor.fetchone()
    return claimed


async def fill(
    conn: Conn, key: dict[str, Any], *, text: str, payload: dict[str, Any], run_ids: list[int] | None
) -> dict[str, Any]:
    """Give a claimed alert its text, payload and runs; returns the alert."""
    cursor = await conn.execute(
        _FILL,
        {
            "text": text,
            "payload": Jsonb(payload),
            "run_ids": run_ids,
            "automation": key["automation"],
            "kind": key["kind"],
            "window_start": key["window_start"],
        },
    )
    alert: dict[str, Any] | None = await cursor.fetchone()
    assert alert is not None, "fill() is for an alert claimed in the same transaction"
    return alert


async def automations_with_gathered_dead_runs(conn: Conn, automations: list[str], *, gather_s: float) -> list[str]:
    """Those of `automations` with runs waiting for a dead-run alert, the oldest of them dead for `gather_s`."""
    cursor = await conn.execute(
        """
        SELECT automation FROM zaps_run
        WHERE alert_pending AND status IN ('dead', 'needs_review') AND automation = ANY (%s)
        GROUP BY automation HAVING min(finished_at) <= now() - make_interval(secs => %s)
        """,
        (automations, gather_s),
    )
    return [row["automation"] for row in await cursor.fetchall()]


async def take_pending_dead_runs(conn: Conn, automation: str) -> list[dict[str, Any]]:
    """The automation's runs waiting for a dead-run alert (`id`, `status`, `error`), no longer waiting."""
    cursor = await conn.execute(
        "UPDATE zaps_run SET alert_pending = NULL WHERE automation = %s AND alert_pending "
        "AND status IN ('dead', 'needs_review') RETURNING id, status, error",
        (automation,),
    )
    rows: list[dict[str, Any]] = await cursor.fetchall()
    return rows


async def lease_due_retries(conn: Conn, automations: list[str], *, lease_s: float) -> list[dict[str, Any]]:
    """Up to 100 undelivered alerts of `automations` whose pause is over, leased for `lease_s`."""
    cursor = await conn.execute(
        """
        UPDATE zaps_alert SET next_attempt_at = now() + make_interval(secs => %s)
        WHERE (automation, kind, window_start) IN (
            SELECT automation, kind, window_start FROM zaps_alert
            WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= now()
              AND automation = ANY (%s)
            ORDER BY next_attempt_at LIMIT 100 FOR UPDATE SKIP LOCKED)
        RETURNING automation, kind, window_start, detail, payload, channels_done, attempts
        """,
        (lease_s, automations),
    )
    due: list[dict[str, Any]] = await cursor.fetchall()
    return due


# --- a delivery's outcome ----------------------------------------------------------------------------------------


async def record_no_channel(conn: Conn, key: dict[str, Any], *, attempts: int) -> None:
    """Delivered to nobody: no channel is configured."""
    await _record(conn, key, "delivered_at = now(), attempts = %(attempts)s", attempts=attempts)


async def record_delivered(conn: Conn, key: dict[str, Any], *, attempts: int, done: list[str]) -> None:
    await _record(
        conn,
        key,
        "delivered_at = now(), attempts = %(attempts)s, channels_done = channels_done || %(done)s, "
        "delivery_error = NULL",
        attempts=attempts,
        done=done,
    )


async def record_given_up(
    conn: Conn, key: dict[str, Any], *, attempts: int, done: list[str], error: str | None
) -> None:
    await _record(
        conn,
        key,
        "given_up_at = now(), attempts = %(attempts)s, channels_done = channels_done || %(done)s, "
        "delivery_error = %(error)s",
        attempts=attempts,
        done=done,
        error=error,
    )


async def record_retry(
    conn: Conn, key: dict[str, Any], *, attempts: int, done: list[str], error: str | None, pause_s: float
) -> None:
    """Some channel failed: try again after `pause_s`, skipping the channels in `done`."""
    await _record(
        conn,
        key,
        "attempts = %(attempts)s, channels_done = channels_done || %(done)s, delivery_error = %(error)s, "
        "next_attempt_at = now() + make_interval(secs => %(pause)s)",
        attempts=attempts,
        done=done,
        error=error,
        pause=pause_s,
    )


async def _record(conn: Conn, key: dict[str, Any], assignments: str, **values: Any) -> None:
    """Write a delivery's outcome (`assignments`: our own SQL text above, never input)."""
    query = sql.SQL(
        "UPDATE zaps_alert SET {assignments} "
        "WHERE automation = %(automation)s AND kind = %(kind)s AND window_start = %(window_start)s"
    ).format(assignments=sql.SQL(assignments))  # our own literals above, never input
    await conn.execute(query, {**key, **values})
