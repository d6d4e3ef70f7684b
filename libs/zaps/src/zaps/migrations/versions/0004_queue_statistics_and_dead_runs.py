"""Fresh planner statistics for the job queue, and an index for "dead runs waiting".

procrastinate's fetch query sorts the waiting jobs; with statistics that still describe a small table, a burst of
18,000 jobs cost 19 ms of PostgreSQL CPU per fetch (28 jobs/s) until the table was analyzed (then 0.05 ms, 522
jobs/s; docs/performance.md). Autovacuum analyzes a table after 10% of it changes by default, far too late for a
queue whose size swings by orders of magnitude: analyze it after every 500 changed rows instead. Housekeeping also
analyzes it, for servers where autovacuum is off.

The console's automations page counts each automation's dead runs; without this partial index that count read
every run of the automation (24 ms each over a million runs).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE procrastinate_jobs SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 500);
        CREATE INDEX zaps_run_dead ON zaps_run (automation, created_at DESC, id DESC) WHERE status = 'dead';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX zaps_run_dead;
        ALTER TABLE procrastinate_jobs RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold);
        """
    )
