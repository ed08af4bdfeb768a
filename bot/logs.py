"""Log output of the long-running bot: readable text for a terminal, JSON lines for a log collector.

Journald, Loki, CloudWatch and the like split a stream into records at newlines; a traceback
written as text becomes a dozen unrelated "records". In ``json`` format every record, traceback
included, is exactly one line holding one JSON object, so it stays one searchable event.

Redaction of the bot token is not done here but when a record is created
(``bot.app.protect_token``), so it holds for both formats and for any handler added later;
these formatters only use the message and exception text that redaction already cleaned.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            # exc_text is what the record factory already redacted; compute it only if absent
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            entry["exception"] = record.exc_text
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        # U+2028/U+2029 are legal in JSON strings but some collectors split lines at them
        return line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for a ``log_format`` setting value (``text`` or ``json``)."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {log_format!r}; expected one of {', '.join(FORMATS)}")


class _BotHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler ``install`` added, so a second call replaces it instead of doubling lines."""


def install(level: int | str = logging.INFO, log_format: str = "text",
            stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's records at ``level`` and above to ``stream`` (stderr) in ``log_format``.

    Unlike ``logging.basicConfig`` this works when the root logger already has handlers (a test
    runner's capture, a library's), and calling it again swaps the previous handler out.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _BotHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _BotHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
