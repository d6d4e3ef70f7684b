"""Test support shared by every service's tests: real PostgreSQL databases cloned from a migrated template, a real
Redis when one answers, a local SMTP server that keeps the emails sent to it (`outbox`), and helpers to run an app
or a whole server process."""
