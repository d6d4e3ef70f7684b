"""Migrations: a real Alembic history, the queue's schema included, safe to run from several processes."""

import threading

import psycopg
from zaps.migrate import migrate
from zaps.testing.databases import clone_database, drop_database, with_database


def test_concurrent_migrations_on_an_empty_database_both_succeed(postgres_admin_url):
    name = clone_database(postgres_admin_url, "template0")
    url = with_database(postgres_admin_url, name)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(url)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with psycopg.connect(url) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
            (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert {"procrastinate_jobs", "zaps_heartbeat", "alembic_version"} <= tables
        assert version is not None
    finally:
        drop_database(postgres_admin_url, name)


def test_migrating_an_up_to_date_database_changes_nothing(database_url):
    migrate(database_url)
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
