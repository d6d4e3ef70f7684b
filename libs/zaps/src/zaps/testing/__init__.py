"""Test support shared by every service's tests: real PostgreSQL databases cloned from a migrated template, a real
Redis when one answers, and helpers to run an app or a whole server process."""
