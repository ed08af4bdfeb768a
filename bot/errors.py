"""The exception tree. Every error articlebot raises on purpose is an ``ArticlebotError``.

::

    ArticlebotError
    ├── ConfigError        a setting is missing or malformed (names the setting)
    ├── CorpusError        a file is not indexed: unusable (names the file and line), or a draft…
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
    """A file that is not indexed; the message names the file and, if known, the line.

    ``kind`` says why, so that listings can group files: "error" (the file cannot be read as an
    article: broken front matter, binary, too big…), "empty" (no text), or why a Hugo page is
    not on the public site: "draft", "future", "expired", "headless", "unrendered", "resource".
    """

    def __init__(self, path: Path | str, reason: str, line: int | None = None, kind: str = "error") -> None:
        self.path = Path(path)
        self.reason = reason
        self.line = line
        self.kind = kind
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {reason}")

    @property
    def is_error(self) -> bool:
        """A file its owner should fix (as opposed to one left out on purpose, like a draft)."""
        return self.kind == "error"

    def __reduce__(self) -> tuple[type[CorpusError], tuple[Path, str, int | None, str]]:
        """Survive pickling (worker processes, the index cache) with path, line and kind intact."""
        return (CorpusError, (self.path, self.reason, self.line, self.kind))


class QuestionError(ArticlebotError):
    """A question with nothing searchable in it (empty, punctuation, emoji only)."""


class IndexCacheError(ArticlebotError):
    """The on-disk index cache is missing pieces or was written by another version."""
