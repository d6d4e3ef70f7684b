"""The status enums hold exactly what the database allows, read from the migrated schema, so they cannot drift."""

import re

from helpers import query
from zaps.engine.statuses import ACTIVE, ALERTED, REPLAYABLE, TERMINAL, LedgerStatus, RunStatus


def allowed_by_check(database_url: str, table: str) -> set[str]:
    """The values the CHECK constraint on `table.status` lets through, as PostgreSQL itself prints the constraint."""
    rows = query(
        database_url,
        "SELECT pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c "
        "WHERE c.conrelid = %s::regclass AND c.contype = 'c' AND c.conname = %s",
        table,
        f"{table}_status_check",
    )
    assert len(rows) == 1, rows
    return set(re.findall(r"'([^']+)'::text", rows[0]["definition"]))


def test_the_run_statuses_are_what_the_database_allows(database_url):
    assert {status.value for status in RunStatus} == allowed_by_check(database_url, "zaps_run")


def test_the_ledger_statuses_are_what_the_database_allows(database_url):
    assert {status.value for status in LedgerStatus} == allowed_by_check(database_url, "zaps_ledger")


def test_every_run_status_is_either_active_paused_or_terminal():
    assert ACTIVE | TERMINAL | {RunStatus.PAUSED} == set(RunStatus)
    assert not ACTIVE & TERMINAL
    assert ALERTED <= TERMINAL and REPLAYABLE <= TERMINAL


def test_a_status_compares_and_prints_as_its_text():
    assert RunStatus.NEEDS_REVIEW == "needs_review" and f"{RunStatus.DEAD}" == "dead"
    assert "queued" in ACTIVE
