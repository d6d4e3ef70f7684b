"""No run stuck, alerts that arrive, console sessions that end.

- `zaps_run.recoveries`: how often housekeeping re-queued a run whose job failed, vanished or stalled while the run
  was still `queued`/`running`/`retrying`; after `max_job_recoveries` the run is marked dead instead.
- `zaps_run.alert_pending`: a dead run not yet listed in a dead-run alert (NULL, not false, once listed or for
  runs older than this migration, so the partial index stays as small as the backlog of unsent alerts).
- An index on the live (`todo`/`doing`) jobs of runs by run id: housekeeping, the schedule overlap check and replay
  ask "does this run still have a job that will run it?" and must not read every finished job to answer.
- `zaps_alert` becomes an outbox: what was sent (payload, run ids), which channels took it, attempts and the next
  try, and when it was delivered or given up on.
- `zaps_console_session`: the console's sessions, so signing out ends one on the server.

Revision ID: 0005_no_stuck_runs
Revises: 0004
"""

from alembic import op

revision = "0005_no_stuck_runs"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE zaps_run ADD COLUMN recoveries int NOT NULL DEFAULT 0, ADD COLUMN alert_pending boolean;
        CREATE INDEX zaps_run_alert_pending ON zaps_run (automation, id) WHERE alert_pending;
        CREATE INDEX zaps_live_run_job ON procrastinate_jobs (((args ->> 'run_id')::bigint))
            WHERE task_name = 'zaps.run' AND status IN ('todo', 'doing');

        ALTER TABLE zaps_alert
            ADD COLUMN payload jsonb,
            ADD COLUMN run_ids bigint[],
            ADD COLUMN channels_done text[] NOT NULL DEFAULT '{}',
            ADD COLUMN attempts int NOT NULL DEFAULT 0,
            ADD COLUMN next_attempt_at timestamptz,
            ADD COLUMN delivered_at timestamptz,
            ADD COLUMN given_up_at timestamptz;
        -- Alerts from before this revision were tried once and are not retried.
        UPDATE zaps_alert SET attempts = 1,
            delivered_at = CASE WHEN delivery_error IS NULL THEN sent_at END,
            given_up_at = CASE WHEN delivery_error IS NOT NULL THEN sent_at END;
        CREATE INDEX zaps_alert_undelivered ON zaps_alert (next_attempt_at)
            WHERE delivered_at IS NULL AND given_up_at IS NULL;

        CREATE TABLE zaps_console_session (
            id text PRIMARY KEY,                        -- SHA-256 of the random session id the cookie carries
            username text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL
        );
        CREATE INDEX zaps_console_session_user ON zaps_console_session (username);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE zaps_console_session;
        DROP INDEX zaps_alert_undelivered;
        ALTER TABLE zaps_alert DROP COLUMN payload, DROP COLUMN run_ids, DROP COLUMN channels_done,
            DROP COLUMN attempts, DROP COLUMN next_attempt_at, DROP COLUMN delivered_at, DROP COLUMN given_up_at;
        DROP INDEX zaps_live_run_job;
        DROP INDEX zaps_run_alert_pending;
        ALTER TABLE zaps_run DROP COLUMN recoveries, DROP COLUMN alert_pending;
        """
    )
