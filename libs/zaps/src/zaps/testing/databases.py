"""Where the tests' PostgreSQL comes from, and one fresh database per test cloned from a migrated template.

Order: TEST_DATABASE_URL, then DATABASE_URL, then the server on 127.0.0.1:5432 if it answers, then an embedded
server in a temporary folder. Cloning a template costs well under 0.1 s, so every test gets its own database.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from procrastinate import __version__ as procrastinate_version

from zaps.migrate import MIGRATIONS_DIR, migrate

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def find_server() -> tuple[str, str]:
    """Return (admin URL, where it came from)."""
    for variable in ("TEST_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(variable):
            return os.environ[variable], variable
    if _answers(LOCAL_SERVER):
        return LOCAL_SERVER, "127.0.0.1:5432"
    from zaps.embedded_db import start_embedded_postgres

    folder = Path(tempfile.mkdtemp(prefix="zaps-test-pg-")) / "data"
    return start_embedded_postgres(folder, keep=False), "embedded PostgreSQL"


def schema_fingerprint() -> str:
    """Changes whenever a migration changes, so a stale template is never reused."""
    digest = hashlib.sha256(procrastinate_version.encode())
    for path in sorted(MIGRATIONS_DIR.rglob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_template(admin_url: str) -> str:
    """Create and migrate the template database once; concurrent test processes wait on an advisory lock."""
    name = f"zaps_template_{schema_fingerprint()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(7364)")
        try:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                building = f"{name}_building"
                conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{building}"')
                migrate(with_database(admin_url, building))
                conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
                conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true')
        finally:
            conn.execute("SELECT pg_advisory_unlock(7364)")
    return name


def clone_database(admin_url: str, template: str) -> str:
    name = f"zaps_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
