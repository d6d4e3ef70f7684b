"""Settings: sensible defaults, a poll interval that fits the Heavy rate-limit group, and credentials that may be
missing in development but not in production (unless the demo simulator stands in)."""

import pytest
from pydantic import ValidationError
from ringcentral_service.settings import DEMO_JWT, Settings
from zaps.settings import describe_error

PRODUCTION = {
    "environment": "production",
    "database_url": "postgresql://zaps@db/zaps",
    "admin_token": "a-real-admin-token-123",
}
CREDENTIALS = {
    "ringcentral_client_id": "app-client-id",
    "ringcentral_client_secret": "app-client-secret-xyz",
    "ringcentral_jwt": "eyJhbGciOi.jwt.credential",
}


def build(**values):
    return Settings(_env_file=None, **values)


def error_of(**values):
    with pytest.raises(ValidationError) as raised:
        build(**values)
    return describe_error(raised.value)


def test_defaults_poll_every_20_seconds_at_extension_level_against_the_live_platform():
    settings = build(environment="development")

    assert settings.service_name == "ringcentral"
    assert settings.path_prefix == "/api/ringcentral"
    assert settings.ringcentral_server_url == "https://platform.ringcentral.com"
    assert settings.ringcentral_media_url == "https://media.ringcentral.com"
    assert settings.ringcentral_poll_interval_seconds == 20
    assert settings.ringcentral_call_log_level == "extension"
    assert not settings.ringcentral_demo
    assert not settings.ringcentral_shadow_mode


@pytest.mark.parametrize("interval", [0, 1, 6, 6.9])
def test_refuses_a_poll_interval_faster_than_the_heavy_group_allows(interval):
    message = error_of(ringcentral_poll_interval_seconds=interval)

    assert "RINGCENTRAL_POLL_INTERVAL_SECONDS" in message
    assert "Heavy" in message
    assert "10 requests/min" in message


def test_accepts_seven_seconds_the_fastest_interval_that_leaves_the_heavy_budget_a_request():
    assert build(ringcentral_poll_interval_seconds=7).ringcentral_poll_interval_seconds == 7


def test_credentials_may_be_unset_in_development():
    settings = build(environment="development")

    assert not settings.ringcentral_configured
    assert settings.ringcentral_credentials() is None


def test_production_refuses_to_start_without_credentials():
    message = error_of(**PRODUCTION)

    assert "RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT must be set" in message


def test_production_in_demo_mode_runs_on_the_simulator_credentials():
    settings = build(**PRODUCTION, ringcentral_demo=True)

    assert settings.ringcentral_configured
    credentials = settings.ringcentral_credentials()
    assert credentials is not None
    assert credentials[2].get_secret_value() == DEMO_JWT


def test_demo_mode_uses_its_own_simulator_and_its_credentials_whatever_is_configured(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    plain = build(ringcentral_demo=True)
    configured = build(
        ringcentral_demo=True,
        ringcentral_server_url="http://127.0.0.1:8000/api/ringcentral/simulator",
        ringcentral_media_url="https://media.example",
        **CREDENTIALS,
    )

    for settings in (plain, configured):
        assert settings.ringcentral_server_url == "http://ringcentral-demo.invalid/api/ringcentral/simulator"
        assert settings.ringcentral_media_url == settings.ringcentral_server_url
        credentials = settings.ringcentral_credentials()
        assert credentials is not None
        assert (credentials[0], credentials[2].get_secret_value()) == ("demo-client-id", DEMO_JWT)
    # The real ones are not kept anywhere the client could read them.
    assert CREDENTIALS["ringcentral_client_secret"] not in repr(configured.__dict__)
    assert CREDENTIALS["ringcentral_jwt"] not in str([str(v) for v in configured.__dict__.values()])
    assert plain.ignored_in_demo == []
    assert configured.ignored_in_demo == [
        "RINGCENTRAL_CLIENT_ID",
        "RINGCENTRAL_CLIENT_SECRET",
        "RINGCENTRAL_JWT",
        "RINGCENTRAL_SERVER_URL",
        "RINGCENTRAL_MEDIA_URL",
    ]


def test_half_configured_credentials_name_what_is_missing():
    message = error_of(ringcentral_client_id="app-client-id")

    assert "RINGCENTRAL_CLIENT_SECRET, RINGCENTRAL_JWT must be set too" in message


def test_production_with_credentials_starts_and_keeps_them_out_of_repr():
    settings = build(**PRODUCTION, **CREDENTIALS)

    assert settings.ringcentral_configured
    assert CREDENTIALS["ringcentral_client_secret"] not in repr(settings)
    assert CREDENTIALS["ringcentral_jwt"] not in repr(settings)


def test_production_refuses_plain_http_for_the_platform():
    message = error_of(**PRODUCTION, **CREDENTIALS, ringcentral_server_url="http://platform.example")

    assert "must use https" in message


def test_call_log_level_is_extension_or_account():
    assert build(ringcentral_call_log_level="account").ringcentral_call_log_level == "account"
    assert "RINGCENTRAL_CALL_LOG_LEVEL" in error_of(ringcentral_call_log_level="company")
