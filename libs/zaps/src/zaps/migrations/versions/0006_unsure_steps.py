"""Unsure steps: what "once" means when a step's outcome is not known.

- `zaps_ledger.status` gains `not_done` (the last try is known not to have happened: a 429, a 5xx, no connection;
  the next try sends) and `unsure` (the request may have arrived; the step's `on_unsure` rule decides). A row
  still `started` on the next try is unsure too: the process stopped between sending and recording.
- `zaps_ledger.tries`: how often the step was sent; `resolution`: how an unsure step was settled (checked, sent
  again, marked as done, and by whom).
- `zaps_run.status` gains `needs_review`: a step held as unsure stops its run until a person says "send again" or
  "mark as done". Such a run is alerted like a dead one (`alert_pending`).

Revision ID: 0006_unsure_steps
Revises: 0005_no_stuck_runs
"""

from alembic import op

revision = "0006_unsure_steps"
down_revision = "0005_no_stuck_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE zaps_ledger DROP CONSTRAINT zaps_ledger_status_check;
        ALTER TABLE zaps_ledger ADD CONSTRAINT zaps_ledger_status_check
            CHECK (status IN ('started', 'succeeded', 'not_done', 'unsure'));
        ALTER TABLE zaps_ledger ADD COLUMN tries int NOT NULL DEFAULT 1, ADD COLUMN resolution text;

        ALTER TABLE zaps_run DROP CONSTRAINT zaps_run_status_check;
        ALTER TABLE zaps_run ADD CONSTRAINT zaps_run_status_check CHECK (status IN
            ('queued', 'running', 'succeeded', 'filtered', 'retrying', 'dead', 'paused', 'needs_review'));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE zaps_run SET status = 'dead' WHERE status = 'needs_review';
        ALTER TABLE zaps_run DROP CONSTRAINT zaps_run_status_check;
        ALTER TABLE zaps_run ADD CONSTRAINT zaps_run_status_check CHECK (status IN
            ('queued', 'running', 'succeeded', 'filtered', 'retrying', 'dead', 'paused'));

        UPDATE zaps_ledger SET status = 'started' WHERE status IN ('not_done', 'unsure');
        ALTER TABLE zaps_ledger DROP COLUMN tries, DROP COLUMN resolution;
        ALTER TABLE zaps_ledger DROP CONSTRAINT zaps_ledger_status_check;
        ALTER TABLE zaps_ledger ADD CONSTRAINT zaps_ledger_status_check CHECK (status IN ('started', 'succeeded'));
        """
    )
