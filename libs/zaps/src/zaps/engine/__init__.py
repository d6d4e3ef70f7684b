"""The automation engine: triggers become stored events, events become runs, runs execute as durable jobs with
retries, and side effects go through the idempotency ledger."""
