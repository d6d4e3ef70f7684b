"""Schema migrations: Alembic revisions under `zaps/migrations`, the queue's schema included.

Every process runs `migrate()` at start-up; an advisory lock makes concurrent starts wait for each other instead
of racing.

Before the first migration, the database must be Zaps' own: a `DATABASE_URL` pointed by mistake at another
application's database would otherwise get Zaps' tables added to it without a word. A database that holds tables
Zaps did not make, and no record of Zaps' migrations, is refused (`ForeignDatabaseError`) unless the
`ALLOW_FOREIGN_TABLES` setting says sharing it is intended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x7A617073  # "zaps": every migrating process takes this advisory lock
# Tables Zaps' migrations make: its own, the job queue's, and Alembic's record of what has been applied.
OWN_TABLE_PREFIXES = ("zaps_", "procrastinate_")
MIGRATION_RECORD = "alembic_version"
# How many of the other tables the refusal names; the rest are counted.
TABLES_NAMED = 5

# Tables and views in the schemas a user can write to. Objects an extension made (PostGIS's spatial_ref_sys, say)
# belong to the extension, not to another application, and are not counted.
_USER_RELATIONS = """
SELECT n.nspname AS schema_name, c.relname AS name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY n.nspname, c.relname
"""
_RECORDED_REVISIONS = "SELECT to_jsonb(v) ->> 'version_num' FROM public.alembic_version AS v"


class ForeignDatabaseError(RuntimeError):
    """The database holds another application's tables and no sign of Zaps: nothing was changed in it."""

    def __init__(self, database: str, tables: list[str]) -> None:
        named = ", ".join(tables[:TABLES_NAMED])
        more = f" and {len(tables) - TABLES_NAMED} more" if len(tables) > TABLES_NAMED else ""
        super().__init__(
            f"database {database!r} already holds tables Zaps did not make ({named}{more}) and no record of Zaps' "
            "migrations, so Zaps has not added its tables to it. Point DATABASE_URL at a database of Zaps' own "
            "(an empty one, e.g. made with `createdb zaps`), or, if sharing this database is intended, set "
            "ALLOW_FOREIGN_TABLES=true for one start: after that Zaps finds its record and needs the setting no more."
        )
        self.database = database
        self.tables = tables


def sqlalchemy_url(database_url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url.removeprefix(prefix)
    return database_url


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _is_zaps_record(connection: Connection, known_revisions: set[str], zaps_tables_present: bool) -> bool:
    # Another application that migrates with Alembic has the same table, naming revisions that are not ours. A
    # database a newer Zaps migrated names revisions this code does not know, but holds Zaps' tables as well.
    # Read through to_jsonb so that a table of that name without Alembic's column gives NULL, not an error.
    versions = {row[0] for row in connection.execute(text(_RECORDED_REVISIONS))}
    return versions <= known_revisions or zaps_tables_present


@dataclass(frozen=True)
class Inventory:
    """What a database holds, as far as the first migration cares."""

    others: list[str]  # tables and views Zaps' migrations did not make, as schema.name
    zaps_record: bool  # Zaps' record of applied migrations is there: Zaps has migrated this database before


def take_inventory(connection: Connection) -> Inventory:
    relations = [(schema, name) for schema, name in connection.execute(text(_USER_RELATIONS))]
    own = {(schema, name) for schema, name in relations if schema == "public" and name.startswith(OWN_TABLE_PREFIXES)}
    zaps_record = False
    if ("public", MIGRATION_RECORD) in relations:
        script = ScriptDirectory.from_config(alembic_config())
        known_revisions = {revision.revision for revision in script.walk_revisions()}
        zaps_record = _is_zaps_record(connection, known_revisions, zaps_tables_present=bool(own))
        if zaps_record:
            own.add(("public", MIGRATION_RECORD))
    others = [f"{schema}.{name}" for schema, name in relations if (schema, name) not in own]
    return Inventory(others=others, zaps_record=zaps_record)


def refuse_foreign_database(connection: Connection) -> None:
    """Raise ForeignDatabaseError if the database holds other tables and Zaps has never migrated it.

    Once Zaps has migrated a database (its record is there), other tables beside its own were allowed then and
    are no reason to stop now.
    """
    inventory = take_inventory(connection)
    if inventory.others and not inventory.zaps_record:
        database = connection.execute(text("SELECT current_database()")).scalar_one()
        raise ForeignDatabaseError(database, inventory.others)


def migrate(database_url: str, revision: str = "head", *, allow_foreign_tables: bool = False) -> None:
    """Bring the database to `revision` (default: the newest). Safe to run from several processes at once.

    A database with other applications' tables and no record of Zaps' migrations is refused (ForeignDatabaseError)
    unless `allow_foreign_tables` is true.
    """
    engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            try:
                if not allow_foreign_tables:
                    refuse_foreign_database(connection)
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()
    logger.info("database schema is up to date", extra={"revision": revision})
