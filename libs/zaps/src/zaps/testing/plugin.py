"""pytest fixtures for every Zaps test suite (registered by the root conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from zaps.settings import Environment, ZapsSettings
from zaps.testing import databases
from zaps.testing import redis as test_redis
from zaps.testing.apps import free_port
from zaps.testing.mail import Outbox

S = TypeVar("S", bound=ZapsSettings)

_found: dict[str, tuple[Any, str]] = {}


def _server() -> tuple[str, str]:
    if "pg" not in _found:
        _found["pg"] = databases.find_server()
    url, origin = _found["pg"]
    return str(url), origin


def _redis() -> tuple[str | None, str]:
    if "redis" not in _found:
        _found["redis"] = test_redis.find_redis()
    return _found["redis"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"zaps: PostgreSQL from {_server()[1]}; Redis: {_redis()[1]}"]


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    return _server()[0]


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> str:
    return databases.ensure_template(postgres_admin_url)


@pytest.fixture
def database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """A fresh, fully migrated database for this test alone."""
    name = databases.clone_database(postgres_admin_url, template_database)
    yield databases.with_database(postgres_admin_url, name)
    databases.drop_database(postgres_admin_url, name)


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    return _redis()[0]


@pytest.fixture
def make_settings(database_url: str, redis_url: str | None) -> Callable[..., Any]:
    """Build a service's settings for a test, never from the developer's shell or .env."""

    def build(settings_class: type[S] = ZapsSettings, **overrides: Any) -> S:  # type: ignore[assignment]
        values: dict[str, Any] = {
            "environment": Environment.test,
            "database_url": database_url,
            "redis_url": redis_url,
            "log_level": "WARNING",
            "data_dir": "/nonexistent",
            "_env_file": None,
        }
        values.update(overrides)
        return settings_class(**values)

    return build


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    """A real SMTP server on a free port of 127.0.0.1 that keeps what it is sent (zaps.testing.mail says how)."""
    # Imported here: aiosmtpd is a development dependency, and this module is imported wherever pytest runs.
    from aiosmtpd.controller import Controller

    box = Outbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), ready_timeout=5)
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()
