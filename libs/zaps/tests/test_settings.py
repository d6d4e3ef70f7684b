"""Settings refuse bad input with one line naming the variable, and never show a secret."""

from pathlib import Path

import pytest
from pydantic import SecretStr
from zaps.settings import Environment, SettingsError, ZapsSettings, load_settings


class NeedsToken(ZapsSettings):
    partner_token: SecretStr


def test_missing_variable_stops_with_one_line_naming_it(monkeypatch, capsys):
    monkeypatch.delenv("PARTNER_TOKEN", raising=False)
    with pytest.raises(SettingsError) as stopped:
        load_settings(NeedsToken, _env_file=None)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "configuration error: PARTNER_TOKEN is required but not set"
    assert "Traceback" not in err


def test_malformed_database_url_names_the_variable_and_hides_the_value(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "mysql://user:hunter2-secret@db/x")
    with pytest.raises(SettingsError):
        load_settings(ZapsSettings, _env_file=None)
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err
    assert "hunter2-secret" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOG_LEVEL", "chatty", "LOG_LEVEL: must be one of"),
        ("PATH_PREFIX", "api/test", "PATH_PREFIX: must start with '/'"),
        ("REDIS_URL", "http://x", "REDIS_URL: must start with redis://"),
        ("WORKER_CONCURRENCY", "zero", "WORKER_CONCURRENCY"),
    ],
)
def test_each_bad_value_is_named(monkeypatch, capsys, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError):
        load_settings(ZapsSettings, _env_file=None)
    assert message in capsys.readouterr().err


def test_placeholder_secret_is_refused_in_production(capsys):
    with pytest.raises(SettingsError):
        load_settings(
            ZapsSettings,
            _env_file=None,
            environment="production",
            database_url="postgresql://db/zaps",
            admin_token="changeme",
        )
    assert "ADMIN_TOKEN is a placeholder secret" in capsys.readouterr().err


def test_placeholder_secret_is_fine_in_development():
    settings = load_settings(ZapsSettings, _env_file=None, environment="development", admin_token="changeme")
    assert settings.environment is Environment.development


def test_production_needs_a_database_url(capsys):
    with pytest.raises(SettingsError):
        load_settings(ZapsSettings, _env_file=None, environment="production", admin_token="a-real-long-token")
    assert "DATABASE_URL must be set in production" in capsys.readouterr().err


def test_secrets_do_not_show_in_repr():
    settings = ZapsSettings(_env_file=None, database_url="postgresql://u:pw-very-secret@h/db")
    assert "pw-very-secret" not in repr(settings)
    assert "pw-very-secret" in settings.secret_values()[0]


def test_trailing_slash_of_the_prefix_is_dropped():
    assert ZapsSettings(_env_file=None, path_prefix="/api/test/").path_prefix == "/api/test"


def test_every_shared_setting_is_explained_in_the_settings_docs():
    docs = (Path(__file__).parents[3] / "docs" / "settings.md").read_text()
    names = [str(field.validation_alias or name).upper() for name, field in ZapsSettings.model_fields.items()]

    assert [name for name in names if f"`{name}`" not in docs] == []
