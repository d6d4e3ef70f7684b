"""All SQL sits in repository modules: a SQL statement in a string anywhere else under libs/*/src or
services/*/src fails here, named by file and line.

The allowed places: modules named `repository.py` or `*_repository.py`, `migrations/` folders, the connection pool
(`zaps/db.py`: its `SET` and `SELECT 1`), the migration runner (`zaps/migrate.py`) and the test helpers
(`zaps/testing/`). The check reads string constants through `ast`, so comments never count, and neither does a
string that is a statement of its own (a docstring): it is never executed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# SQL keywords in capitals, as the house writes them: English text in a log line or an error ("select a file")
# never matches, and a lower-case statement would not pass review anyway.
SQL_STATEMENT = re.compile(
    r"""
    \bSELECT\b[\s\S]*\bFROM\b                                   # a query
    | ^\s*SELECT\s                                              # SELECT pg_advisory_lock(...), SELECT 1
    | \bINSERT\s+INTO\b
    | \bUPDATE\s+\w+(\s+\w+)?\s+SET\b                           # with or without an alias
    | \bDELETE\s+FROM\b
    | \b(CREATE|ALTER|DROP)\s+(UNIQUE\s+)?(TABLE|INDEX|VIEW|TRIGGER|FUNCTION|SEQUENCE|SCHEMA|TYPE|DATABASE)\b
    | \bpg_notify\b
    | ^\s*(LISTEN|NOTIFY)\s                                     # as a statement: "one NOTIFY for many jobs" is text
    | ^\s*(ANALYZE|VACUUM|TRUNCATE)\b
    """,
    re.VERBOSE | re.MULTILINE,
)

ALLOWED_MODULES = {"zaps/db.py", "zaps/migrate.py"}  # paths below a package's src/


def source_files(root: Path) -> list[Path]:
    """Every .py file of every package of the workspace, found from the folders rather than listed."""
    return sorted(
        path for src in [*root.glob("libs/*/src"), *root.glob("services/*/src")] for path in src.rglob("*.py")
    )


def may_hold_sql(path: Path) -> bool:
    below_src = path.relative_to(next(parent for parent in path.parents if parent.name == "src"))
    return (
        path.name == "repository.py"
        or path.name.endswith("_repository.py")
        or "migrations" in below_src.parts
        or below_src.as_posix() in ALLOWED_MODULES
        or below_src.parts[:2] == ("zaps", "testing")
    )


def sql_strings(source: str) -> list[int]:
    """The lines of the string constants in `source` that hold a SQL statement, docstrings left out."""
    tree = ast.parse(source)
    skipped: set[int] = set()  # ids of the constants not to read on their own
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skipped.add(id(node.value))  # a docstring, or any string standing alone: never executed
        elif isinstance(node, ast.JoinedStr):
            # An f-string's pieces are read joined, with a placeholder for each value: "SELECT {x} FROM t" is one
            # statement, though neither "SELECT " nor " FROM t" is one.
            skipped.update(id(part) for part in node.values)
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
            if SQL_STATEMENT.search(text):
                lines.append(node.lineno)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skipped
            and SQL_STATEMENT.search(node.value)
        ):
            lines.append(node.lineno)
    return sorted(lines)


def misplaced_sql(root: Path) -> list[str]:
    """`file:line` of each SQL statement outside the places allowed to hold one."""
    found = []
    for path in source_files(root):
        if may_hold_sql(path):
            continue
        for line in sql_strings(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(root).as_posix()}:{line}")
    return found


def test_sql_sits_only_in_repository_modules():
    misplaced = misplaced_sql(ROOT)
    assert misplaced == [], "SQL outside a repository module (move it into one):\n" + "\n".join(misplaced)


def test_the_check_finds_sql_planted_in_a_service(tmp_path):
    module = tmp_path / "services" / "planted-service" / "src" / "planted_service" / "handlers.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        '"""Handlers. They used to run SELECT id FROM zaps_run WHERE id = %s here: a docstring is not SQL."""\n'
        "\n"
        "\n"
        "async def handle(conn, run_id, table):\n"
        '    """UPDATE zaps_run SET status = \'dead\' is what this does, described."""\n'
        "    # DELETE FROM zaps_run: a comment is not SQL either\n"
        '    await conn.execute("SELECT status FROM zaps_run WHERE id = %s", (run_id,))\n'
        '    await conn.execute(f"DELETE FROM {table} WHERE id = %s", (run_id,))\n'
        '    logger.info("select a run from the list")\n'
    )
    (module.parent / "repository.py").write_text('QUERY = "SELECT 1 FROM zaps_run"\n')
    migrations = module.parent / "migrations"
    migrations.mkdir()
    (migrations / "0001_first.py").write_text('SQL = "CREATE TABLE planted (id bigint)"\n')

    assert misplaced_sql(tmp_path) == [
        "services/planted-service/src/planted_service/handlers.py:7",
        "services/planted-service/src/planted_service/handlers.py:8",
    ]


def test_sql_strings_reads_each_kind_of_statement():
    statements = [
        "SELECT a FROM t",
        "SELECT pg_advisory_xact_lock(hashtext(%s))",
        "INSERT INTO t (a) VALUES (1)",
        "UPDATE t SET a = 1",
        "UPDATE zaps_run r SET a = 1",
        "DELETE FROM t",
        "CREATE TABLE t (a int)",
        "ALTER TABLE t ADD COLUMN b int",
        "DROP INDEX i",
        "SELECT pg_notify(%s, %s)",
        "LISTEN channel",
        'NOTIFY "queue"',
        "ANALYZE procrastinate_jobs",
    ]
    source = "".join(f"x{n} = {statement!r}\n" for n, statement in enumerate(statements))
    assert sql_strings(source) == list(range(1, len(statements) + 1))


def test_a_docstring_and_plain_text_are_not_sql():
    source = (
        '"""Deletes old runs: DELETE FROM zaps_run, in batches. SELECT id FROM zaps_run decides which."""\n'
        "class Runs:\n"
        '    """INSERT INTO zaps_run is done elsewhere."""\n'
        "    def prune(self):\n"
        '        """UPDATE zaps_run SET status = \'dead\' first."""\n'
        '        raise ValueError("select the runs from the console, then update them")\n'
        'NOTE = "the wakeup sends one NOTIFY for many jobs; the workers LISTEN"\n'
    )
    assert sql_strings(source) == []
