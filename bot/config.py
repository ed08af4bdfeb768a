"""Settings: declared once (name, environment variable, default, help), read into one frozen object.

Precedence: command-line flag > environment variable > config file (TOML) > default.
Secrets (the bot token) come from the environment only, so they never sit in a file
that gets committed or pasted into a bug report.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """One documented knob; the README's settings table is checked against this list."""

    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(part) for part in value.split(os.pathsep) if part.strip())


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError("must be a finite number, zero or more")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be zero or a positive whole number")
    return number


def _user_ids(value: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in value.replace(os.pathsep, ",").split(",") if part.strip())
    except ValueError:
        raise ValueError("must be Telegram user ids (numbers) separated by commas") from None


def _chat_ids(value: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in value.replace(os.pathsep, ",").split(",") if part.strip())
    except ValueError:
        raise ValueError("must be Telegram chat ids (numbers, groups negative) separated by commas") from None


def _boolean(value: str) -> bool:
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false (1/0, yes/no, on/off)")


def _log_format(value: str) -> str:
    name = value.strip().lower()
    if name not in ("text", "json"):
        raise ValueError("must be text or json")
    return name


def _log_level(value: str) -> str:
    name = value.strip().upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return name


def _hour(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 23:
        raise ValueError("must be an hour of the day, 0 to 23")
    return number


def _timezone(value: str) -> str:
    """An IANA time zone name (``Asia/Shanghai``, ``UTC``), checked against the system's zone data."""
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be a time zone name such as UTC, Europe/Berlin or Asia/Shanghai") from None
    return name


def _positive_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a number above zero")
    return number


def _url_path(value: str) -> str:
    path = value.strip()
    if not path.startswith("/") or any(c.isspace() or c in "?#" for c in path):
        raise ValueError("must be a URL path starting with / (no spaces, ? or #)")
    return path


def _state_url(value: str) -> str:
    url = value.strip()
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a PostgreSQL URL such as postgresql://articlebot@db.example/articlebot "
                         "(leave it unset for the SQLite file at state_path)")
    return url


def _without_password(text: str) -> str:
    """A URL's password hidden (``user:***@host``), so a setting quoted in an error never shows one."""
    return re.sub(r"(://[^/@:]*:)[^/]*@", r"\1***@", text)


SETTINGS: tuple[Setting, ...] = (
    Setting("corpus", "ARTICLEBOT_CORPUS", (Path("corpus"),),
            "Folders of Markdown articles, joined by the OS path separator (':' on Linux).", _paths),
    Setting("cache_dir", "ARTICLEBOT_CACHE_DIR", Path(".articlebot-cache"),
            "Where the index cache lives; delete it to force a full rebuild.", Path),
    Setting("hugo_config", "ARTICLEBOT_HUGO_CONFIG", None,
            "A Hugo site configuration (hugo.toml, config.yaml…) for corpus folders that have none of their "
            "own: their pages then get public URLs and Hugo's publishing rules.", Path),
    Setting("top_k", "ARTICLEBOT_TOP_K", 3, "Quotes per answer.", _positive_int),
    Setting("k1", "ARTICLEBOT_BM25_K1", 0.9, "BM25 term-frequency saturation.", _non_negative_float),
    Setting("b", "ARTICLEBOT_BM25_B", 0.4, "BM25 length normalisation (0 = none, 1 = full).",
            _non_negative_float),
    Setting("min_relevance", "ARTICLEBOT_MIN_RELEVANCE", 0.3,
            "Share of the question's weight a passage must match to be quoted (0..1).",
            _non_negative_float),
    Setting("max_file_mb", "ARTICLEBOT_MAX_FILE_MB", 5.0, "Article files larger than this are skipped.",
            _non_negative_float),
    Setting("max_question_chars", "ARTICLEBOT_MAX_QUESTION_CHARS", 1000,
            "Longer questions are refused with a message.", _positive_int),
    Setting("workers", "ARTICLEBOT_WORKERS", 0,
            "Processes that tokenize while indexing (0 = one per CPU core).", _non_negative_int),
    Setting("state_path", "ARTICLEBOT_STATE", Path(".articlebot-state.sqlite"),
            "SQLite file for bot state (buttons, follow-ups) that survives restarts.", Path),
    Setting("state_url", "ARTICLEBOT_STATE_URL", None,
            "PostgreSQL URL (postgresql://user@host/db) to keep the bot state in instead of state_path, so "
            "that several replicas share it; a password in it is never logged.", _state_url),
    Setting("rate_limit_per_minute", "ARTICLEBOT_RATE_LIMIT", 20,
            "Questions one Telegram user may ask per minute.", _positive_int),
    Setting("admin_user_ids", "ADMIN_USER_IDS", frozenset(),
            "Telegram user ids, comma-separated, allowed admin commands such as /reload (none by default).",
            _user_ids),
    Setting("allowed_chat_ids", "ALLOWED_CHAT_IDS", frozenset(),
            "Chat ids, comma-separated, the bot answers in (a private chat's id is the user's id); "
            "elsewhere it politely refuses, inline queries too. Empty: everywhere.", _chat_ids),
    Setting("query_log_days", "ARTICLEBOT_QUERY_LOG_DAYS", 30,
            "Days the question log and the 👍/👎 votes are kept for `articlebot report` and /stats.",
            _positive_int),
    Setting("watch", "ARTICLEBOT_WATCH", True,
            "Re-index while `articlebot telegram` runs when corpus files change (SIGHUP and /reload "
            "always do).", _boolean),
    Setting("following", "ARTICLEBOT_FOLLOWING", True,
            "Readers may follow tags (/follow): new articles and daily digests are sent to them; false turns "
            "following off entirely.", _boolean),
    Setting("digest_hour", "ARTICLEBOT_DIGEST_HOUR", 8,
            "Hour of the day (0-23, in digest_timezone) the daily digests of followed tags go out.", _hour),
    Setting("digest_timezone", "ARTICLEBOT_DIGEST_TIMEZONE", "UTC",
            "Time zone of digest_hour and of a digest's day (an IANA name such as Asia/Shanghai).", _timezone),
    Setting("broadcast_per_second", "ARTICLEBOT_BROADCAST_RATE", 25.0,
            "Messages per second the bot sends in all while it delivers to followers (answers count and go "
            "first); Telegram allows about 30.", _positive_float),
    Setting("telegram_token", "TELEGRAM_BOT_TOKEN", None,
            "Bot token from @BotFather (environment only, never logged).", str, secret=True),
    Setting("telegram_webhook_secret", "TELEGRAM_WEBHOOK_SECRET", None,
            "Secret Telegram must send with webhook updates (environment only; random if unset).",
            str, secret=True),
    Setting("telegram_api_base_url", "TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot",
            "Bot API endpoint; point it at a self-hosted Bot API server if you run one."),
    Setting("webhook_path", "ARTICLEBOT_WEBHOOK_PATH", "/telegram",
            "Local path the webhook server takes updates on (what the reverse proxy forwards to).",
            _url_path),
    Setting("log_format", "ARTICLEBOT_LOG_FORMAT", "text",
            "Log lines of `articlebot telegram`: text, or json (one object per line, for collectors).",
            _log_format),
    Setting("log_level", "ARTICLEBOT_LOG_LEVEL", "INFO",
            "Least severe log level written: DEBUG, INFO, WARNING, ERROR or CRITICAL.", _log_level),
)

CONFIG_ENV = "ARTICLEBOT_CONFIG"
_DEFAULTS = {setting.name: setting.default for setting in SETTINGS}


def _default(name: str) -> Any:
    """A setting's default as ``SETTINGS`` declares it: the one place defaults are written."""
    return _DEFAULTS[name]


@dataclass(frozen=True)
class Settings:
    """Every setting articlebot reads, resolved once at start-up (defaults: ``SETTINGS``, declared once)."""

    corpus: tuple[Path, ...] = _default("corpus")
    cache_dir: Path = _default("cache_dir")
    hugo_config: Path | None = _default("hugo_config")
    top_k: int = _default("top_k")
    k1: float = _default("k1")
    b: float = _default("b")
    min_relevance: float = _default("min_relevance")
    max_file_mb: float = _default("max_file_mb")
    max_question_chars: int = _default("max_question_chars")
    workers: int = _default("workers")
    state_path: Path = _default("state_path")
    state_url: str | None = field(default=_default("state_url"), repr=False)
    rate_limit_per_minute: int = _default("rate_limit_per_minute")
    admin_user_ids: frozenset[int] = _default("admin_user_ids")
    allowed_chat_ids: frozenset[int] = _default("allowed_chat_ids")
    query_log_days: int = _default("query_log_days")
    watch: bool = _default("watch")
    following: bool = _default("following")
    digest_hour: int = _default("digest_hour")
    digest_timezone: str = _default("digest_timezone")
    broadcast_per_second: float = _default("broadcast_per_second")
    telegram_token: str | None = field(default=_default("telegram_token"), repr=False)
    telegram_webhook_secret: str | None = field(default=_default("telegram_webhook_secret"), repr=False)
    telegram_api_base_url: str = _default("telegram_api_base_url")
    webhook_path: str = _default("webhook_path")
    log_format: str = _default("log_format")
    log_level: str = _default("log_level")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def with_overrides(self, **overrides: Any) -> Settings:
        """Apply command-line values; ``None`` means the flag was not given."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _parse(setting: Setting, raw: Any, origin: str) -> Any:
    if not isinstance(raw, str):
        raw = os.pathsep.join(map(str, raw)) if isinstance(raw, list) else str(raw)
    try:
        return setting.parse(raw)
    except ValueError as error:
        raise ConfigError(f"{setting.name} ({origin}): {_without_password(raw)!r} {error}") from None


def _read_config_file(path: Path) -> Mapping[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    known = {s.name for s in SETTINGS if not s.secret}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return data


def load_settings(env: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
    """Resolve settings from a config file and the environment (flags are applied by the CLI)."""
    env = os.environ if env is None else env
    if config_file is None and env.get(CONFIG_ENV):
        config_file = Path(env[CONFIG_ENV])
    from_file = _read_config_file(config_file) if config_file else {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.env in env and env[setting.env].strip():
            values[setting.name] = _parse(setting, env[setting.env], setting.env)
        elif setting.name in from_file:
            values[setting.name] = _parse(setting, from_file[setting.name], str(config_file))
    return Settings(**values)

