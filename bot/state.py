"""Bot state that must survive restarts, in one SQLite file: what buttons and replies refer to.

Telegram limits callback data to 64 bytes, so a button carries a short number and the
question (or tag name) it stands for lives here. A restart keeps every button working.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '',
    chat_id INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS replies (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    query_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
"""


@dataclass(frozen=True)
class StoredQuery:
    """A question (kind "ask"), a tag name ("tag") or an article path ("article") behind a button."""

    id: int
    kind: str
    text: str
    context: str


class State:
    """Thread-safe access to the state file (``:memory:`` works for one process)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def remember(self, kind: str, text: str, context: str = "", chat_id: int | None = None) -> int:
        """Store a query and return the short id that buttons carry."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO queries (kind, text, context, chat_id, created) VALUES (?, ?, ?, ?, ?)",
                (kind, text, context, chat_id, time.time()))
            return int(cursor.lastrowid or 0)

    def recall(self, query_id: int) -> StoredQuery | None:
        with self._lock:
            row = self._db.execute("SELECT id, kind, text, context FROM queries WHERE id = ?",
                                   (query_id,)).fetchone()
        return StoredQuery(*row) if row else None

    def link_reply(self, chat_id: int, message_id: int, query_id: int) -> None:
        """Remember which question a bot message answered, so replies to it are follow-ups."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?)", (chat_id, message_id, query_id))

    def query_for_reply(self, chat_id: int, message_id: int) -> StoredQuery | None:
        with self._lock:
            row = self._db.execute("SELECT query_id FROM replies WHERE chat_id = ? AND message_id = ?",
                                   (chat_id, message_id)).fetchone()
        return self.recall(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
