"""Settings validation: every bad value names its ``NOVA_*`` setting."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from nova.platform import errors
from nova.platform.config import Environment, Settings, load_settings

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The developer's own NOVA_* variables and .env file must not leak into these tests.
    for key in list(os.environ):
        if key.startswith("NOVA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_mean_embedded_engines() -> None:
    settings = load_settings()

    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.clickhouse_url is None
    assert settings.port == 8000
    assert settings.environment is Environment.DEVELOPMENT


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"database_url": "mysql://db/nova"}, "NOVA_DATABASE_URL"),
        ({"database_url": "postgresql://db:notaport/nova"}, "NOVA_DATABASE_URL"),
        ({"database_url": "postgresql://db:0/nova"}, "NOVA_DATABASE_URL"),
        ({"database_url": "postgresql:///nova"}, "NOVA_DATABASE_URL"),
        ({"redis_key_prefix": "has space"}, "NOVA_REDIS_KEY_PREFIX"),
        ({"environment": "production"}, "NOVA_SECRET_KEY"),
        ({"redis_url": "http://cache:6379"}, "NOVA_REDIS_URL"),
        ({"clickhouse_url": "ftp://ch"}, "NOVA_CLICKHOUSE_URL"),
        ({"port": 70000}, "NOVA_PORT"),
        ({"log_level": "LOUD"}, "NOVA_LOG_LEVEL"),
        ({"environment": "staging"}, "NOVA_ENVIRONMENT"),
    ],
)
def test_bad_values_name_the_setting(overrides: dict[str, object], setting: str) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        load_settings(**overrides)

    assert caught.value.setting == setting
    assert caught.value.code is errors.ErrorCode.CONFIGURATION
    assert str(caught.value).startswith(f"{setting}: ")


def test_bad_environment_variable_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVA_DATABASE_URL", "postgresql://db:99999999/nova")

    with pytest.raises(errors.ConfigurationError) as caught:
        load_settings()

    assert caught.value.setting == "NOVA_DATABASE_URL"


def test_empty_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVA_REDIS_URL", "")

    assert load_settings().redis_url is None


def test_secrets_never_show_in_repr() -> None:
    settings = load_settings(database_url="postgresql://nova:hunter2@db:5432/nova")

    assert "hunter2" not in repr(settings)
    assert settings.database_url is not None
    assert "hunter2" in settings.database_url.get_secret_value()


def test_chdb_path_url_is_accepted() -> None:
    # EmbeddedClickHouse hands out chdb:///abs/path; an operator may set the same.
    settings = load_settings(clickhouse_url="chdb:///var/lib/nova/clickhouse")

    assert settings.clickhouse_url is not None
    assert settings.clickhouse_url.get_secret_value() == "chdb:///var/lib/nova/clickhouse"


def test_production_accepts_a_real_secret() -> None:
    settings = load_settings(environment="production", secret_key="x" * 40)

    assert settings.is_production


def test_toml_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "nova.toml"
    config.write_text('port = 9100\nredis_url = "redis://cache:6380/1"\nlog_level = "debug"\n')
    monkeypatch.setenv("NOVA_CONFIG_FILE", str(config))

    settings = load_settings()

    assert settings.port == 9100
    assert settings.log_level == "DEBUG"
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://cache:6380/1"


def test_environment_beats_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "nova.toml"
    config.write_text("port = 9100\n")
    monkeypatch.setenv("NOVA_CONFIG_FILE", str(config))
    monkeypatch.setenv("NOVA_PORT", "9200")

    assert load_settings().port == 9200


def test_bad_value_in_toml_file_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "nova.toml"
    config.write_text('clickhouse_url = "mysql://nope"\n')
    monkeypatch.setenv("NOVA_CONFIG_FILE", str(config))

    with pytest.raises(errors.ConfigurationError) as caught:
        load_settings()

    assert caught.value.setting == "NOVA_CLICKHOUSE_URL"


def test_missing_toml_file_names_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOVA_CONFIG_FILE", str(tmp_path / "absent.toml"))

    with pytest.raises(errors.ConfigurationError) as caught:
        load_settings()

    assert caught.value.setting == "NOVA_CONFIG_FILE"


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        load_settings(databse_url="postgresql://db/nova")

    assert caught.value.setting == "NOVA_DATABSE_URL"


def test_settings_are_frozen() -> None:
    settings = Settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]  # asserting the runtime guard of a frozen model
