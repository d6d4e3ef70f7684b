"""The fault suite's fixtures: one throw-away PostgreSQL server for the module (stopped and started by the tests),
a fresh migrated database on it per test, a receiver that does not deduplicate, and the counts board printed at
the end of the session."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from zaps.testing import databases
from zaps.testing.sink import Sink
from zaps.testing.throwaway_postgres import ThrowawayPostgres

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from faultkit import BOARD  # noqa: E402


@pytest.fixture(scope="module")
def throwaway_pg() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture
def fault_db(throwaway_pg: ThrowawayPostgres) -> Iterator[str]:
    """A fresh, migrated database on the throw-away server (restarted if a test left it stopped)."""
    if not throwaway_pg.answers():
        throwaway_pg.start()
    template = databases.ensure_template(throwaway_pg.admin_url)
    name = databases.clone_database(throwaway_pg.admin_url, template)
    yield databases.with_database(throwaway_pg.admin_url, name)
    if not throwaway_pg.answers():
        throwaway_pg.start()
    databases.drop_database(throwaway_pg.admin_url, name)


@pytest.fixture
def receiver() -> Iterator[Sink]:
    with Sink() as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if BOARD:
        terminalreporter.section("fault suite: counts per scenario")
        for line in BOARD:
            terminalreporter.write_line(line)
