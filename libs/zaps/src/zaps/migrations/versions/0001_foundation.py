"""Foundation: the job queue's schema, and the tables the stack probes write (heartbeats, round trips).

Revision ID: 0001
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # procrastinate 3.10.0's full schema. Later procrastinate upgrades add a revision that runs the migration
    # files shipped in procrastinate/sql/migrations, so the queue's schema moves with ours.
    raw = op.get_bind().connection.driver_connection
    assert raw is not None
    raw.execute(SchemaManager.get_schema())
    op.execute(
        """
        CREATE TABLE zaps_probe (
            id bigserial PRIMARY KEY,
            service text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        -- No unique key on the tick on purpose: a tick written twice must show as two rows, so the test that
        -- proves "once per tick across processes" can fail.
        CREATE TABLE zaps_heartbeat (
            id bigserial PRIMARY KEY,
            service text NOT NULL,
            job text NOT NULL,
            tick_at timestamptz NOT NULL,
            written_at timestamptz NOT NULL DEFAULT now(),
            worker text
        );
        CREATE INDEX zaps_heartbeat_tick ON zaps_heartbeat (service, job, tick_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE zaps_heartbeat; DROP TABLE zaps_probe;")
