"""The automation engine: automations, events, runs, attempts, steps, the idempotency ledger, timers, alerts.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Every automation a running service declared (upserted at start-up), and its switches.
        CREATE TABLE zaps_automation (
            name text PRIMARY KEY,                      -- "<service>.<automation>", unique across services
            service text NOT NULL,
            source text NOT NULL,                       -- the event source it listens to
            kinds text[],                               -- event kinds it takes (NULL: all of the source's)
            trigger jsonb NOT NULL,                     -- how the source fires, for people and the console
            max_attempts int NOT NULL,
            silent_after_s int,                         -- dead-man's switch: alert when no event for this long
            paused boolean NOT NULL DEFAULT false,
            registered_at timestamptz NOT NULL DEFAULT now()
        );

        -- What a trigger delivered, raw, once per (source, dedup key).
        CREATE TABLE zaps_event (
            id bigserial PRIMARY KEY,
            source text NOT NULL,
            dedup_key text NOT NULL,
            kind text,
            payload jsonb NOT NULL,
            headers jsonb,
            received_at timestamptz NOT NULL DEFAULT now(),
            duplicates int NOT NULL DEFAULT 0,
            last_duplicate_at timestamptz,
            CONSTRAINT zaps_event_dedup UNIQUE (source, dedup_key)
        );
        CREATE INDEX zaps_event_received ON zaps_event (received_at);
        -- "When did this source last fire?" without a hot row updated by every event.
        CREATE INDEX zaps_event_source_received ON zaps_event (source, received_at DESC);

        -- One run per (automation, event).
        CREATE TABLE zaps_run (
            id bigserial PRIMARY KEY,
            automation text NOT NULL,
            event_id bigint NOT NULL REFERENCES zaps_event (id) ON DELETE CASCADE,
            status text NOT NULL CHECK (status IN
                ('queued', 'running', 'succeeded', 'filtered', 'retrying', 'dead', 'paused')),
            attempts int NOT NULL DEFAULT 0,
            max_attempts int NOT NULL,
            filter_reason text,
            error text,
            code_version text,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            next_attempt_at timestamptz,
            CONSTRAINT zaps_run_once UNIQUE (automation, event_id)
        );
        CREATE INDEX zaps_run_newest ON zaps_run (created_at DESC, id DESC);
        CREATE INDEX zaps_run_by_automation ON zaps_run (automation, created_at DESC, id DESC);
        CREATE INDEX zaps_run_by_status ON zaps_run (status, created_at DESC, id DESC);
        CREATE INDEX zaps_run_event ON zaps_run (event_id);

        -- The timeline of a run: each attempt with its outcome.
        CREATE TABLE zaps_attempt (
            id bigserial PRIMARY KEY,
            run_id bigint NOT NULL REFERENCES zaps_run (id) ON DELETE CASCADE,
            number int NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            outcome text,                               -- succeeded, filtered, retrying, dead, replayed, crashed
            error text,
            worker text,
            code_version text
        );
        CREATE INDEX zaps_attempt_run ON zaps_attempt (run_id, id);

        -- Each step of each attempt: input, output, timing, error (sizes capped by the engine).
        CREATE TABLE zaps_step (
            id bigserial PRIMARY KEY,
            run_id bigint NOT NULL REFERENCES zaps_run (id) ON DELETE CASCADE,
            attempt int NOT NULL,
            name text NOT NULL,
            status text NOT NULL,                       -- succeeded, failed, reused (done before: ledger)
            input jsonb,
            output jsonb,
            error text,
            started_at timestamptz NOT NULL DEFAULT now(),
            duration_ms double precision
        );
        CREATE INDEX zaps_step_run ON zaps_step (run_id, id);

        -- The idempotency ledger: a step that succeeded for (automation, event) is never done again.
        CREATE TABLE zaps_ledger (
            automation text NOT NULL,
            event_id bigint NOT NULL REFERENCES zaps_event (id) ON DELETE CASCADE,
            step text NOT NULL,
            idempotency_key text NOT NULL UNIQUE,
            status text NOT NULL CHECK (status IN ('started', 'succeeded')),
            output jsonb,
            started_at timestamptz NOT NULL DEFAULT now(),
            completed_at timestamptz,
            PRIMARY KEY (automation, event_id, step)
        );

        -- Schedules, polls and housekeeping: claimed by one process per due time, whichever replica gets there.
        CREATE TABLE zaps_timer (
            name text PRIMARY KEY,
            service text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('schedule', 'poll', 'housekeeping')),
            next_due_at timestamptz NOT NULL,
            cursor jsonb,                               -- a poll's cursor, advanced with the events it produced
            version bigint NOT NULL DEFAULT 0,
            last_started_at timestamptz,
            last_ok_at timestamptz,
            last_error text,
            last_error_at timestamptz
        );

        -- What each schedule tick did: fired an event, or was skipped (the previous run still going).
        CREATE TABLE zaps_tick (
            automation text NOT NULL,
            tick_at timestamptz NOT NULL,
            outcome text NOT NULL,                      -- fired, skipped_overlap, skipped_late
            event_id bigint,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (automation, tick_at)
        );

        -- Alerts sent, one per (automation, kind, window): the throttle.
        CREATE TABLE zaps_alert (
            automation text NOT NULL,
            kind text NOT NULL,                         -- dead_run, silent_trigger
            window_start timestamptz NOT NULL,
            detail text,
            sent_at timestamptz NOT NULL DEFAULT now(),
            delivery_error text,
            PRIMARY KEY (automation, kind, window_start)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE zaps_alert, zaps_tick, zaps_timer, zaps_ledger, zaps_step, zaps_attempt, zaps_run, zaps_event, "
        "zaps_automation"
    )
