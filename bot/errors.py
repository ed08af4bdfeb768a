"""The exception tree. Every error articlebot raises on purpose is an ``ArticlebotError``.

::

    ArticlebotError
    ├── ConfigError        a setting is missing or malformed (names the setting)
    ├── CorpusError        an article file cannot be used (names the file and line)
    ├── QuestionError      a question cannot be searched (says what to type instead)
    └── IndexCacheError    the on-disk cache is unreadable (it is rebuilt, never trusted)

The CLI prints ``str(error)`` on one line and exits non-zero; the bot replies politely
and logs the traceback.
"""

from __future__ import annotations

from pathlib import Path


class ArticlebotError(Exception):
    """Base of every error articlebot raises deliberately."""


class ConfigError(ArticlebotError):
    """A setting is missing or malformed."""


class CorpusError(ArticlebotError):
    """An article file that cannot be loaded; the message names the file and, if known, the line."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type[CorpusError], tuple[Path, str, int | None]]:
        """Survive pickling (worker processes, the index cache) with path and line intact."""
        return (CorpusError, (self.path, self.reason, self.line))


class QuestionError(ArticlebotError):
    """A question with nothing searchable in it (empty, punctuation, emoji only)."""


class IndexCacheError(ArticlebotError):
    """The on-disk index cache is missing pieces or was written by another version."""
