import sys
from pathlib import Path

import pytest
from zaps.testing.sheets_fake import FakeGoogle, ServiceAccount

# The connectors tests' own service lives beside them (imported as "sheets_service").
HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from sheets_helpers import HEADER, SHEET_ID  # noqa: E402
from sheets_service import SheetsSettings  # noqa: E402


@pytest.fixture
def google():
    with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def account(google, monkeypatch) -> ServiceAccount:
    """A service account whose key the fake knows, given to the connector as its settings (the environment)."""
    made = google.service_account()
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_JSON", made.key_json())
    monkeypatch.setenv("GOOGLE_SHEETS_API_URL", google.url)
    monkeypatch.setenv("GOOGLE_SHEETS_TIMEOUT_S", "0.5")
    monkeypatch.delenv("GOOGLE_TOKEN_URI", raising=False)  # the key's own token_uri is the fake's
    google.spreadsheet(SHEET_ID, {"Calls": [list(HEADER)]}, shared_with=[made.client_email])
    return made


@pytest.fixture
def sheets_settings(make_settings):
    def build(**overrides):
        return make_settings(SheetsSettings, **overrides)

    return build
