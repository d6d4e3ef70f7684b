"""Run jobs are inserted without procrastinate's per-row NOTIFY; the engine wakes the workers itself.

procrastinate's insert trigger calls pg_notify for every job. NOTIFY holds a cluster-wide lock from the commit's
WAL flush to its end, so every webhook transaction waited for the one before it: measured here, 457 job inserts/s
with the trigger against 3,861/s without. The `zaps.run` jobs skip the trigger; `zaps.engine.wakeup` sends one
NOTIFY after the commit for many of them. Every other job keeps procrastinate's trigger unchanged.

A procrastinate upgrade that recreates this trigger needs this revision's change applied again after it.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DROP TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1 ON procrastinate_jobs;
        CREATE TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1
            AFTER INSERT ON procrastinate_jobs
            FOR EACH ROW WHEN (new.status = 'todo'::procrastinate_job_status AND new.task_name <> 'zaps.run')
            EXECUTE FUNCTION procrastinate_notify_queue_job_inserted_v1();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1 ON procrastinate_jobs;
        CREATE TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1
            AFTER INSERT ON procrastinate_jobs
            FOR EACH ROW WHEN (new.status = 'todo'::procrastinate_job_status)
            EXECUTE FUNCTION procrastinate_notify_queue_job_inserted_v1();
        """
    )
