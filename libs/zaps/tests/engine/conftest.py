import sys
from pathlib import Path

import pytest
from zaps.testing.sink import Sink

# The engine tests' own service lives beside them; server processes import it as "engine_service:service".
HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from engine_service import EngineSettings  # noqa: E402


@pytest.fixture
def sink():
    with Sink() as server:
        yield server


@pytest.fixture
def engine_settings(make_settings, sink):
    def build(**overrides):
        values = {
            "target_url": sink.url,
            "alert_webhook_url": sink.url + "/alerts",
            "webhook_signing_secret": "outbound-signing-secret",
            "tick_interval_s": 0.1,
            "housekeeping_interval_s": 0.5,
            "alert_gather_s": 0.2,
            "alert_retry_first_s": 0.2,
        }
        values.update(overrides)
        return make_settings(EngineSettings, **values)

    return build
