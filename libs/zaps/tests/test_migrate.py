"""Migrations: a real Alembic history, the queue's schema included, safe to run from several processes, and never
into another application's database by mistake."""

import threading
from collections.abc import Iterator

import psycopg
import pytest
from zaps.migrate import ForeignDatabaseError, migrate
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


@pytest.fixture
def empty_database(postgres_admin_url: str) -> Iterator[str]:
    """A scratch database with nothing in it, dropped afterwards."""
    name = clone_database(postgres_admin_url, "template0")
    try:
        yield with_database(postgres_admin_url, name)
    finally:
        drop_database(postgres_admin_url, name)


def run_sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def tables_in(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def another_applications_database(url: str) -> None:
    run_sql(
        url,
        "CREATE TABLE customers (id int PRIMARY KEY)",
        "CREATE TABLE orders (id int PRIMARY KEY)",
        "CREATE SCHEMA billing",
        "CREATE TABLE billing.invoices (id int PRIMARY KEY)",
        "CREATE VIEW big_orders AS SELECT * FROM orders",
        "CREATE TABLE a (id int)",
        "CREATE TABLE b (id int)",
    )


def test_migrating_into_another_applications_database_is_refused_and_changes_nothing(empty_database):
    another_applications_database(empty_database)

    with pytest.raises(ForeignDatabaseError) as refused:
        migrate(empty_database)

    message = str(refused.value)
    assert refused.value.tables == [
        "billing.invoices",
        "public.a",
        "public.b",
        "public.big_orders",
        "public.customers",
        "public.orders",
    ]
    assert "public.customers" in message and "and 1 more" in message  # a few named, the rest counted
    assert "ALLOW_FOREIGN_TABLES=true" in message and "DATABASE_URL" in message  # the two ways out
    assert tables_in(empty_database) == {"a", "b", "customers", "orders"}


def test_allowed_foreign_tables_get_zaps_beside_them_and_later_starts_need_no_permission(empty_database):
    another_applications_database(empty_database)

    migrate(empty_database, allow_foreign_tables=True)
    migrate(empty_database)  # Zaps' record is there now: the other tables were accepted once, for good

    assert {"customers", "orders", "zaps_run", "procrastinate_jobs", "alembic_version"} <= tables_in(empty_database)


def test_another_applications_alembic_record_is_not_taken_for_zaps(empty_database):
    run_sql(
        empty_database,
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('3f2a9c1b7e00')",
        "CREATE TABLE customers (id int PRIMARY KEY)",
    )

    with pytest.raises(ForeignDatabaseError) as refused:
        migrate(empty_database)

    assert refused.value.tables == ["public.alembic_version", "public.customers"]


def test_a_view_an_extension_made_is_not_another_application(empty_database):
    with psycopg.connect(empty_database) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_buffercache'").fetchone()
    if available is None:
        pytest.skip("this PostgreSQL has no contrib extensions (pg_buffercache)")
    run_sql(empty_database, "CREATE EXTENSION pg_buffercache")  # makes the view public.pg_buffercache

    migrate(empty_database)

    assert "zaps_run" in tables_in(empty_database)
