"""config.py: settings declared once, read from defaults, a TOML file and the environment."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config import CONFIG_ENV, SETTINGS, Settings, load_settings
from bot.errors import ConfigError

BY_NAME = {setting.name: setting for setting in SETTINGS}


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "articlebot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_settings_names_equal_the_settings_fields() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]


def test_every_setting_has_a_unique_environment_variable_and_help() -> None:
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)
    assert all(s.help.strip() for s in SETTINGS)


def test_defaults_without_environment_or_file() -> None:
    settings = load_settings(env={})
    assert settings == Settings()
    for setting in SETTINGS:
        assert getattr(settings, setting.name) == setting.default, setting.name
    assert settings.telegram_token is None
    assert settings.max_file_bytes == int(settings.max_file_mb * 1024 * 1024)


def test_environment_overrides_defaults() -> None:
    settings = load_settings(env={"ARTICLEBOT_TOP_K": "7", "ARTICLEBOT_BM25_K1": "1.5",
                                  "ARTICLEBOT_CORPUS": "a:b/c", "ARTICLEBOT_CACHE_DIR": "/tmp/x"})
    assert settings.top_k == 7
    assert settings.k1 == 1.5
    assert settings.corpus == (Path("a"), Path("b/c"))
    assert settings.cache_dir == Path("/tmp/x")


def test_blank_environment_variable_is_ignored() -> None:
    assert load_settings(env={"ARTICLEBOT_TOP_K": "  "}).top_k == BY_NAME["top_k"].default


def test_config_file_values_are_read(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'top_k = 5\ncorpus = ["news", "wechat"]\nk1 = 1.5\nmin_relevance = 0.5\n'
                                    'cache_dir = "/tmp/cache"\n')
    settings = load_settings(env={}, config_file=config)
    assert settings.top_k == 5
    assert settings.corpus == (Path("news"), Path("wechat"))
    assert settings.k1 == 1.5
    assert settings.min_relevance == 0.5
    assert settings.cache_dir == Path("/tmp/cache")


def test_config_file_named_by_the_environment_is_read(tmp_path: Path) -> None:
    config = write_config(tmp_path, "top_k = 9\n")
    assert load_settings(env={CONFIG_ENV: str(config)}).top_k == 9


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, "top_k = 5\nk1 = 1.5\n")
    settings = load_settings(env={"ARTICLEBOT_TOP_K": "8"}, config_file=config)
    assert settings.top_k == 8
    assert settings.k1 == 1.5


def test_secrets_come_from_the_environment() -> None:
    settings = load_settings(env={"TELEGRAM_BOT_TOKEN": "123:secret"})
    assert settings.telegram_token == "123:secret"
    assert "123:secret" not in repr(settings)


def test_unknown_key_in_the_config_file_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, "top_k = 5\ntop_kk = 6\n")
    with pytest.raises(ConfigError, match="top_kk") as caught:
        load_settings(env={}, config_file=config)
    assert str(config) in str(caught.value)


def test_secret_in_the_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="telegram_token"):
        load_settings(env={}, config_file=write_config(tmp_path, 'telegram_token = "123:secret"\n'))


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, "top_k = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings(env={}, config_file=config)
    assert str(config) in str(caught.value)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(env={}, config_file=tmp_path / "missing.toml")


@pytest.mark.parametrize(("variable", "value", "name"), [
    ("ARTICLEBOT_TOP_K", "0", "top_k"),
    ("ARTICLEBOT_TOP_K", "three", "top_k"),
    ("ARTICLEBOT_TOP_K", "2.5", "top_k"),
    ("ARTICLEBOT_BM25_K1", "-1", "k1"),
    ("ARTICLEBOT_BM25_B", "much", "b"),
    ("ARTICLEBOT_MAX_QUESTION_CHARS", "-5", "max_question_chars"),
    ("ARTICLEBOT_RATE_LIMIT", "0", "rate_limit_per_minute"),
    pytest.param("ARTICLEBOT_WORKERS", "-3", "workers"),
    pytest.param("ARTICLEBOT_MAX_FILE_MB", "inf", "max_file_mb"),
    pytest.param("ARTICLEBOT_BM25_K1", "nan", "k1"),
])
def test_bad_environment_value_is_a_config_error_naming_the_setting(variable: str, value: str,
                                                                    name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={variable: value})
    message = str(caught.value)
    assert message.startswith(f"{name} ({variable}): ")
    assert repr(value) in message


def test_bad_config_file_value_is_a_config_error_naming_the_setting_and_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, "top_k = -1\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, config_file=config)
    assert str(caught.value).startswith(f"top_k ({config}): ")
    assert "positive" in str(caught.value)


def test_with_overrides_applies_only_given_flags() -> None:
    settings = Settings(top_k=4).with_overrides(top_k=None, cache_dir=Path("/tmp/c"))
    assert settings.top_k == 4
    assert settings.cache_dir == Path("/tmp/c")
