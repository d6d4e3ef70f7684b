import secrets
import sys
from pathlib import Path

import pytest

# The builders beside the tests are imported by name (pytest runs with --import-mode=importlib).
HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from console_builders import PASSWORD_HASH  # noqa: E402
from zaps_console.settings import ConsoleSettings  # noqa: E402


@pytest.fixture
def console_settings(make_settings):
    """Console settings for one test: a fresh session secret, so no two tests share a Redis throttle key."""

    def build(**overrides):
        values = {
            "console_admin_username": "admin",
            "console_admin_password_hash": PASSWORD_HASH,
            "console_session_secret": secrets.token_urlsafe(32),
            "run_worker": False,
        }
        values.update(overrides)
        return make_settings(ConsoleSettings, **values)

    return build
