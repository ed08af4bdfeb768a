"""Bot state that must survive restarts: what buttons and replies refer to, in SQLite or PostgreSQL.

Telegram limits callback data to 64 bytes, so a button carries a short number and the
question (or tag name, or article) it stands for lives here. A restart keeps every button
working; buttons older than ``query_log_days`` expire (``prune_log``), so the store stays bounded.
The ``updates`` table makes each Telegram update answered exactly once across a crash (see
``receive_update``); it is keyed by the bot's id as well, so one store can serve several bots.

What readers do is kept here too, so that editors learn what the articles miss (``bot.report``):
each chat's settings (``/settings``), usage counters per day, a log of the questions asked (pruned
after ``query_log_days``) and the 👍/👎 each user gave an answer.

Where: an SQLite file by default (``state_path``), or a PostgreSQL database (``state_url``) that
several replicas of the bot share. One class serves both, its SQL written once in the dialect the
two share (``bot.telegram.database`` says why and holds the few differences). The schema is created
and migrated on opening (``MIGRATIONS``, the version recorded in ``schema_version``). Shared by
replicas, updates and outbox rows are *claimed* with a lease (``claim_update``, ``due_deliveries``):
one replica works on each, and a replica that dies leaves claims another takes over once they expire.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.errors import ConfigError
from bot.telegram.database import (
    Held,
    PostgresDatabase,
    Session,
    SqliteDatabase,
    is_postgres_url,
    open_database,
)

UPDATES_TABLE = """
CREATE TABLE IF NOT EXISTS updates (
    bot_id INTEGER NOT NULL,
    update_id INTEGER NOT NULL,
    body TEXT,
    received REAL NOT NULL,
    handled REAL,
    press_answered REAL,
    PRIMARY KEY (bot_id, update_id)
)"""
"""The update ledger: each update by the bot it was sent to (update ids are counted per bot)."""
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
CREATE INDEX IF NOT EXISTS queries_created ON queries (created);
CREATE INDEX IF NOT EXISTS replies_query ON replies (query_id);
""" + UPDATES_TABLE + ";\n"
USAGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_settings (
    chat_id INTEGER PRIMARY KEY,
    lang TEXT,
    per_page INTEGER,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, name)
);
CREATE TABLE IF NOT EXISTS query_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id INTEGER,
    question TEXT NOT NULL,
    chat_type TEXT,
    found INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    asked REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS query_log_asked ON query_log (asked);
CREATE TABLE IF NOT EXISTS feedback (
    query_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    vote INTEGER NOT NULL,
    voted REAL NOT NULL,
    PRIMARY KEY (query_id, user_id)
);
"""
"""What readers do (settings, counters, questions, votes); a separate script so the tables that
make buttons and updates work stay readable on their own."""
FOLLOW_SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (
    bot_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    daily INTEGER NOT NULL DEFAULT 0,
    lang TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (bot_id, chat_id, key)
);
CREATE INDEX IF NOT EXISTS follows_by_key ON follows (bot_id, key);
CREATE TABLE IF NOT EXISTS outbox_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    html TEXT NOT NULL,
    buttons TEXT NOT NULL,
    preview_url TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    bot_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    item TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    queued REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    done REAL,
    outcome TEXT,
    PRIMARY KEY (bot_id, chat_id, item)/*rowid*/
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (bot_id, queued) WHERE outcome IS NULL;
CREATE INDEX IF NOT EXISTS outbox_done ON outbox (done);
CREATE TABLE IF NOT EXISTS arrivals (
    key TEXT NOT NULL,
    path TEXT NOT NULL,
    title TEXT NOT NULL,
    arrived REAL NOT NULL,
    PRIMARY KEY (key, path)
);
CREATE TABLE IF NOT EXISTS digest_runs (
    bot_id INTEGER NOT NULL,
    moment REAL NOT NULL,
    PRIMARY KEY (bot_id, moment)
);
"""
"""Following tags: who follows what (per bot: a chat follows through the bot it wrote to), the outbox of
messages to followers (each (chat, item) once: the primary key), which new articles arrived under which
followed names (for daily digests), and which digest moments were done."""
CLAIMS = [
    "ALTER TABLE updates ADD COLUMN owner TEXT",
    "ALTER TABLE updates ADD COLUMN lease_until REAL",
    "ALTER TABLE outbox ADD COLUMN owner TEXT",
    "ALTER TABLE outbox ADD COLUMN lease_until REAL",
    """CREATE TABLE IF NOT EXISTS rate_windows (
    user_id INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (user_id, minute)
)""",
    """CREATE TABLE IF NOT EXISTS shared_values (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
]
"""Version 2: what lets replicas share the state. Updates and outbox rows get a claim (which replica
works on them, until when); per-user request counts per minute (rate limits across replicas); values
every replica must agree on (the webhook's secret when none is configured)."""
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (SCHEMA, USAGE_SCHEMA, FOLLOW_SCHEMA)),
    (2, tuple(CLAIMS)),
)
"""Each schema version and the statements that reach it from the one before. Version 1 is the schema
of state files written before versions were recorded (``CREATE … IF NOT EXISTS``: such a file takes
it without change); a new version appends an entry, never edits one."""
SCHEMA_VERSION = MIGRATIONS[-1][0]
UPDATE_LEASE = 30.0
"""Seconds a replica's claim on an update lasts (shared database): its answer takes well under a
second, so a claim this old belongs to a replica that died, and another replica answers instead."""
OUTBOX_LEASE = 120.0
"""Seconds a replica's claim on outbox rows lasts: a batch is paced out over up to a minute or so."""
SWEEP_SECONDS = 5.0
"""How often a replica looks for updates whose claim expired (shared database)."""
SENT, DROPPED, UNSURE = "sent", "dropped", "unsure"
"""Outcomes of an outbox row: Telegram accepted it; the chat blocked the bot (its follows went); the send
timed out (Telegram may have delivered it, so it is not sent again). Any other outcome is "failed: …"."""
QUERY_LOG_DAYS = 30
"""Default retention of the question log and the votes (setting ``query_log_days``)."""
LOGGED_QUESTION_CHARS = 500
"""A longer question is logged shortened: enough to see what was asked, not a pasted article."""
PRUNE_EVERY = 100
"""The question log, votes and buttons are pruned on opening and after every this many logged questions."""
UPDATE_KEEP_SECONDS = 48 * 3600
"""How long a handled update id is remembered. Telegram re-sends an unconfirmed update for at most
24 hours, so two days is enough to recognise every redelivery, and the table stays small."""
UNKNOWN_BOT = 0
"""The bot id of updates recorded before the ledger kept bot ids (state files of earlier versions).
Telegram's bot ids are positive; rows with this one count as the current bot's, whichever it is:
almost always the same bot that wrote them, and they are pruned within ``UPDATE_KEEP_SECONDS``."""


@dataclass(frozen=True)
class StoredQuery:
    """A question (kind "ask"), a tag name ("tag") or an article path ("article") behind a button.

    ``context`` is what goes with it: the earlier question a follow-up carries, or an article's title.
    """

    id: int
    kind: str
    text: str
    context: str
    chat_id: int | None = None
    """The chat it was asked in (its /settings choose the page size), None when not known."""


@dataclass(frozen=True)
class UpdateRecord:
    """What the ledger knows of an update: answered already, and whether its button press was."""

    handled: bool
    press_answered: bool


@dataclass(frozen=True)
class Follow:
    """A chat following a tag or topic: ``key`` is the name as compared, ``name`` as shown."""

    chat_id: int
    key: str
    name: str
    daily: bool
    lang: str | None


@dataclass(frozen=True)
class OutboxMessage:
    """One message to send to one follower, as stored (``buttons``: rows of {label, data, url})."""

    rowid: int
    chat_id: int
    item: str
    html: str
    buttons: tuple[tuple[dict[str, str], ...], ...]
    preview_url: str | None
    attempts: int


@dataclass(frozen=True)
class Delivery:
    """What to put in the outbox: one rendered message for each of ``chats``, under ``item``."""

    item: str
    html: str
    buttons: tuple[tuple[dict[str, str], ...], ...]
    chats: tuple[int, ...]
    preview_url: str | None = None


@dataclass(frozen=True)
class ChatSettings:
    """A chat's choices in /settings; None means "not chosen": the user's language, the top_k setting."""

    lang: str | None = None
    per_page: int | None = None


@dataclass(frozen=True)
class LoggedQuestion:
    """One row of the question log: what a reader asked and how well the articles answered."""

    question: str
    chat_type: str | None
    found: bool
    latency_ms: float
    asked: float
    query_id: int | None = None


@dataclass(frozen=True)
class Vote:
    """A reader's 👍 (+1) or 👎 (-1) on an answer, with the question it answered."""

    query_id: int
    user_id: int
    vote: int
    voted: float
    question: str


def day_of(when: float) -> str:
    """The local calendar day of a timestamp (YYYY-MM-DD): editors read reports in their own days."""
    return time.strftime("%Y-%m-%d", time.localtime(when))


class State:
    """Thread-safe access to the bot's state, in an SQLite file or a PostgreSQL database.

    ``target`` is a path (``:memory:`` works for one process) or a ``postgresql://`` URL. ``owner``
    names this process in claims; ``update_lease`` and ``outbox_lease`` are how long a claim lasts.
    They default to 0 for SQLite, where one process owns the file: a claim left by a killed process
    must not delay its restart, so claims there expire at once and behave as the file always did.
    """

    def __init__(self, target: Path | str, query_log_days: int = QUERY_LOG_DAYS, *,
                 update_lease: float | None = None, outbox_lease: float | None = None,
                 owner: str | None = None) -> None:
        self._db: SqliteDatabase | PostgresDatabase = open_database(target)
        self.shared = self._db.shared
        """Whether several processes share this state (PostgreSQL): claims and the sweep matter then."""
        self.errors = self._db.errors
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.update_lease = (UPDATE_LEASE if self.shared else 0.0) if update_lease is None else update_lease
        self.outbox_lease = (OUTBOX_LEASE if self.shared else 0.0) if outbox_lease is None else outbox_lease
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise
        self._count_lock = threading.Lock()
        self.query_log_days = query_log_days
        self._logged = 0
        self.prune_log()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.dialect

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """A context manager that one process (of those sharing the state) holds at a time."""
        return self._db.exclusive(name)

    def try_hold(self, name: str) -> Held | None:
        """Take the named lock ``name`` if no other process sharing the state holds it (None if one
        does), and keep it until ``release``: how one replica at a time becomes the broadcaster."""
        return self._db.try_hold(name)

    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        with self._db.session() as db:
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        """Create the tables, or bring a store of an earlier version up to ``SCHEMA_VERSION``, in one
        transaction: a bot killed meanwhile leaves the store as it was, and replicas that start at
        once migrate it once (the second waits for the first, then finds nothing to do)."""
        with self._db.transaction() as db:
            self._db.migration_lock(db)
            db.execute(self._db.ddl("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            for version, scripts in MIGRATIONS:
                if version <= current:
                    continue
                for script in scripts:
                    for statement in script.split(";"):
                        if statement.strip():
                            db.execute(self._db.ddl(statement))
                if version == 1 and self.dialect == "sqlite":
                    _key_updates_by_bot(db)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def remember(self, kind: str, text: str, context: str = "", chat_id: int | None = None,
                 when: float | None = None) -> int:
        """Store a query and return the short id that buttons carry."""
        with self._db.session() as db:
            row = db.execute(
                "INSERT INTO queries (kind, text, context, chat_id, created) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (kind, text, context, chat_id, time.time() if when is None else when)).fetchone()
            return int(row[0])

    def recall(self, query_id: int) -> StoredQuery | None:
        with self._db.session() as db:
            row = db.execute("SELECT id, kind, text, context, chat_id FROM queries WHERE id = ?",
                                   (query_id,)).fetchone()
        return StoredQuery(*row) if row else None

    def link_reply(self, chat_id: int, message_id: int, query_id: int) -> None:
        """Remember which question a bot message answered, so replies to it are follow-ups."""
        with self._db.session() as db:
            db.execute("INSERT INTO replies (chat_id, message_id, query_id) VALUES (?, ?, ?) ON CONFLICT "
                       "(chat_id, message_id) DO UPDATE SET query_id = excluded.query_id", (chat_id, message_id, query_id))

    def query_for_reply(self, chat_id: int, message_id: int) -> StoredQuery | None:
        with self._db.session() as db:
            row = db.execute("SELECT query_id FROM replies WHERE chat_id = ? AND message_id = ?",
                                   (chat_id, message_id)).fetchone()
        return self.recall(row[0]) if row else None

    # --- updates: exactly once across a crash ----------------------------------------------
    # Every method takes the bot's id (the number before the colon in its token): update ids are
    # counted per bot, so one state file used with two bots must not let one skip the other's.
    # Rows of UNKNOWN_BOT (recorded before bot ids were kept) count as the asking bot's.

    def receive_update(self, bot_id: int, update_id: int, body: str) -> None:
        """Keep an update as received, before Telegram can consider it delivered.

        Telegram forgets an update once the next getUpdates asks past it (or once the webhook
        answered 200), which happens before the bot has replied; kept here, an update that a
        crash interrupted is still answered after the restart (or, shared, by another replica once
        this one's claim expired). The receiver claims it at once. An id seen before is left as it is:
        a Telegram retry that reached another replica does not take the update from the first.
        """
        now = time.time()
        with self._db.durable() as db:
            db.execute("INSERT INTO updates (bot_id, update_id, body, received, owner, lease_until) "
                       "SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM updates WHERE bot_id = ? "
                       "AND update_id = ?) ON CONFLICT DO NOTHING",
                       (bot_id, update_id, body, now, self.owner, now + self.update_lease, UNKNOWN_BOT, update_id))

    def claim_update(self, bot_id: int, update_id: int) -> UpdateRecord | None:
        """Claim an update for this process to answer now; None when it must not be answered here.

        It must not when it was answered already, or while another process's claim on it lasts (that
        process is answering it; if it died, its claim expires and the update is claimed again). The
        claim is one statement (``INSERT … ON CONFLICT DO UPDATE … WHERE``), so of two replicas that
        try at once exactly one gets it. The record returned says whether its press was answered.
        """
        now = time.time()
        with self._db.durable() as db:
            old = db.execute("SELECT 1 FROM updates WHERE bot_id = ? AND update_id = ? AND handled IS NOT NULL",
                             (UNKNOWN_BOT, update_id)).fetchone()
            if old is not None:
                return None
            row = db.execute(
                "INSERT INTO updates (bot_id, update_id, body, received, owner, lease_until) "
                "VALUES (?, ?, NULL, ?, ?, ?) ON CONFLICT (bot_id, update_id) DO UPDATE SET "
                "owner = excluded.owner, lease_until = excluded.lease_until WHERE updates.handled IS NULL "
                "AND (updates.owner IS NULL OR updates.owner = excluded.owner OR updates.lease_until IS NULL "
                "OR updates.lease_until <= ?) RETURNING press_answered",
                (bot_id, update_id, now, self.owner, now + self.update_lease, now)).fetchone()
        return None if row is None else UpdateRecord(False, row[0] is not None)

    def update_record(self, bot_id: int, update_id: int) -> UpdateRecord | None:
        """What is known of an update (None: never seen, or forgotten)."""
        with self._db.session() as db:
            row = db.execute("SELECT handled, press_answered FROM updates WHERE bot_id IN (?, ?) "
                             "AND update_id = ?", (UNKNOWN_BOT, bot_id, update_id)).fetchone()
        return UpdateRecord(row[0] is not None, row[1] is not None) if row else None

    def update_handled(self, bot_id: int, update_id: int) -> bool:
        """Whether this update was answered already (Telegram sends it again after a crash)."""
        record = self.update_record(bot_id, update_id)
        return record is not None and record.handled

    def mark_update_handled(self, bot_id: int, update_id: int) -> None:
        """Record that the update was answered; its body is no longer needed."""
        now = time.time()
        with self._db.durable() as db:
            updated = db.execute("UPDATE updates SET handled = ?, body = NULL, lease_until = NULL WHERE "
                                 "bot_id IN (?, ?) AND update_id = ?", (now, UNKNOWN_BOT, bot_id, update_id)).rowcount
            if not updated:
                db.execute("INSERT INTO updates (bot_id, update_id, body, received, handled) "
                           "VALUES (?, ?, NULL, ?, ?) ON CONFLICT DO NOTHING", (bot_id, update_id, now, now))

    def mark_press_answered(self, bot_id: int, update_id: int) -> None:
        """Record that Telegram accepted the answer to this update's button press: handled again
        after a crash, the press is carried out without answering it twice (Telegram refuses that)."""
        with self._db.durable() as db:
            db.execute("UPDATE updates SET press_answered = ? WHERE bot_id IN (?, ?) AND update_id = ?",
                       (time.time(), UNKNOWN_BOT, bot_id, update_id))

    def renew_updates(self, bot_id: int, update_ids: Iterable[int]) -> int:
        """Extend this process's claims on updates it is still answering (a slow answer must not look
        like a dead replica's); returns how many claims were still this process's."""
        ids = sorted(set(update_ids))
        if not ids:
            return 0
        with self._db.session() as db:
            return db.execute(f"UPDATE updates SET lease_until = ? WHERE bot_id = ? AND owner = ? AND handled IS NULL "
                              f"AND update_id IN ({', '.join('?' * len(ids))})",
                              (time.time() + self.update_lease, bot_id, self.owner, *ids)).rowcount

    def release_update(self, bot_id: int, update_id: int) -> None:
        """Give up this process's claim (handling was cut short by a shutdown): another process, or
        this one's next start, answers the update without waiting for the claim to expire."""
        with self._db.session() as db:
            db.execute("UPDATE updates SET lease_until = NULL, owner = NULL WHERE bot_id = ? AND update_id = ? "
                       "AND owner = ? AND handled IS NULL", (bot_id, update_id, self.owner))

    def unhandled_updates(self, bot_id: int, max_age: float = 24 * 3600) -> list[tuple[int, str]]:
        """(update_id, body) of this bot's updates received but never answered and not claimed now by
        another process, oldest first.

        Older than ``max_age`` they are left out: Telegram itself drops updates after a day, and
        an answer that late would confuse more than help.
        """
        now = time.time()
        with self._db.session() as db:
            rows = db.execute(
                "SELECT update_id, body FROM updates WHERE bot_id IN (?, ?) AND handled IS NULL "
                "AND body IS NOT NULL AND received >= ? AND (lease_until IS NULL OR lease_until <= ?) "
                "ORDER BY update_id", (UNKNOWN_BOT, bot_id, now - max_age, now)).fetchall()
        return [(int(update_id), str(body)) for update_id, body in rows]

    def prune_updates(self, keep_seconds: float = UPDATE_KEEP_SECONDS) -> int:
        """Forget updates (of every bot) older than ``keep_seconds``; returns how many rows went."""
        with self._db.session() as db:
            cursor = db.execute("DELETE FROM updates WHERE received < ?", (time.time() - keep_seconds,))
            return cursor.rowcount

    # --- chat settings (/settings) ----------------------------------------------------------

    def chat_settings(self, chat_id: int) -> ChatSettings:
        """The chat's choices; a chat that never chose gets ChatSettings() (everything default)."""
        with self._db.session() as db:
            row = db.execute("SELECT lang, per_page FROM chat_settings WHERE chat_id = ?",
                                   (chat_id,)).fetchone()
        return ChatSettings(*row) if row else ChatSettings()

    def set_chat_lang(self, chat_id: int, lang: str | None) -> None:
        """Answer this chat in ``lang`` ("en", "zh"), or in each user's own language (None)."""
        self._set_chat("lang", chat_id, lang)

    def set_chat_per_page(self, chat_id: int, per_page: int | None) -> None:
        """Quotes per answer page in this chat, or the top_k setting (None)."""
        self._set_chat("per_page", chat_id, per_page)

    def _set_chat(self, column: str, chat_id: int, value: str | int | None) -> None:
        assert column in ("lang", "per_page")  # a column name cannot be a bound parameter
        with self._db.session() as db:
            db.execute(f"INSERT INTO chat_settings (chat_id, {column}, updated) VALUES (?, ?, ?) "
                             f"ON CONFLICT (chat_id) DO UPDATE SET {column} = excluded.{column}, "
                             "updated = excluded.updated", (chat_id, value, time.time()))

    # --- usage counters, the question log and votes (read by bot.report) -------------------

    def count_usage(self, name: str, when: float | None = None) -> None:
        """Add one to today's counter ``name`` ("/tag", "question", "inline", "tag:iyiou" …).

        Counters are per day and hold no user or chat, so they are kept for good: they are
        how a report compares this month with last year's.
        """
        day = day_of(time.time() if when is None else when)
        with self._db.session() as db:
            db.execute("INSERT INTO usage (day, name, count) VALUES (?, ?, 1) "
                             "ON CONFLICT (day, name) DO UPDATE SET count = usage.count + 1", (day, name))

    def usage(self, since: float) -> dict[str, int]:
        """Each counter's total from the day of ``since`` on."""
        with self._db.session() as db:
            rows = db.execute("SELECT name, SUM(count) FROM usage WHERE day >= ? GROUP BY name",
                                    (day_of(since),)).fetchall()
        return {str(name): int(total) for name, total in rows}

    def log_question(self, question: str, chat_type: str | None, found: bool, latency_ms: float,
                     query_id: int | None = None, when: float | None = None) -> None:
        """Log a question the bot answered (or found nothing for), to learn what readers miss.

        Only what was addressed to the bot reaches here (in groups, mentions, replies and
        commands), and no user id is kept: the report needs questions, not people.
        """
        if len(question) > LOGGED_QUESTION_CHARS:
            question = question[:LOGGED_QUESTION_CHARS - 1] + "…"
        with self._db.session() as db:
            db.execute("INSERT INTO query_log (query_id, question, chat_type, found, latency_ms, asked) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (query_id, question, chat_type, int(found), float(latency_ms),
                              time.time() if when is None else when))
        with self._count_lock:
            self._logged += 1
            due = self._logged % PRUNE_EVERY == 0
        if due:
            self.prune_log()

    def logged_questions(self, since: float) -> list[LoggedQuestion]:
        """The log from ``since`` on, oldest first."""
        with self._db.session() as db:
            rows = db.execute("SELECT question, chat_type, found, latency_ms, asked, query_id FROM query_log "
                                    "WHERE asked >= ? ORDER BY asked, id", (since,)).fetchall()
        return [LoggedQuestion(str(q), chat_type, bool(found), float(ms), float(asked), query_id)
                for q, chat_type, found, ms, asked, query_id in rows]

    def vote(self, query_id: int, user_id: int, vote: int, when: float | None = None) -> int | None:
        """Record a user's 👍 (+1) or 👎 (-1) on an answer; returns their previous vote, if any.

        One vote per answer and user: pressing the other button changes it.
        """
        if vote not in (1, -1):
            raise ValueError("a vote is +1 or -1")
        with self._db.session() as db:
            row = db.execute("SELECT vote FROM feedback WHERE query_id = ? AND user_id = ?",
                                   (query_id, user_id)).fetchone()
            db.execute("INSERT INTO feedback (query_id, user_id, vote, voted) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (query_id, user_id) DO UPDATE SET vote = excluded.vote, "
                             "voted = excluded.voted", (query_id, user_id, vote, time.time() if when is None else when))
        return int(row[0]) if row else None

    def votes(self, since: float) -> list[Vote]:
        """Votes cast (or last changed) from ``since`` on, with the question each answer was for."""
        with self._db.session() as db:
            rows = db.execute(
                "SELECT f.query_id, f.user_id, f.vote, f.voted, COALESCE(q.text, '') FROM feedback f "
                "LEFT JOIN queries q ON q.id = f.query_id WHERE f.voted >= ? ORDER BY f.voted",
                (since,)).fetchall()
        return [Vote(int(qid), int(uid), int(v), float(voted), str(text)) for qid, uid, v, voted, text in rows]

    def prune_log(self, now: float | None = None) -> int:
        """Delete what is older than ``query_log_days``; returns the rows deleted.

        That is logged questions, votes, and the questions, tags and articles behind buttons (with
        the links from the bot's messages to them): a button that old says it has expired. A
        question someone voted on is kept while the vote is, so the report can still name it.
        """
        cutoff = (time.time() if now is None else now) - self.query_log_days * 86400
        with self._db.session() as db:
            logged = db.execute("DELETE FROM query_log WHERE asked < ?", (cutoff,)).rowcount
            voted = db.execute("DELETE FROM feedback WHERE voted < ?", (cutoff,)).rowcount
            expired = "SELECT id FROM queries WHERE created < ? AND id NOT IN (SELECT query_id FROM feedback)"
            links = db.execute(f"DELETE FROM replies WHERE query_id IN ({expired})", (cutoff,)).rowcount
            buttons = db.execute(f"DELETE FROM queries WHERE id IN ({expired})", (cutoff,)).rowcount
        return logged + voted + links + buttons

    # --- following tags -----------------------------------------------------------------------
    # Follows and the outbox are kept per bot (``bot_id``), as the update ledger is: one state file
    # used by two bots must not make one deliver to the other's followers.

    def follow(self, bot_id: int, chat_id: int, key: str, name: str, daily: bool, lang: str | None,
               limit: int | None = None) -> bool | None:
        """Follow ``key`` in ``chat_id`` (each article, or a ``daily`` digest); following it again changes
        the mode. Returns whether the chat followed it already, or None when it follows ``limit`` names."""
        with self._db.transaction() as db:
            known = db.execute("SELECT 1 FROM follows WHERE bot_id = ? AND chat_id = ? AND key = ?",
                                     (bot_id, chat_id, key)).fetchone() is not None
            if not known and limit is not None:
                total = db.execute("SELECT COUNT(*) FROM follows WHERE bot_id = ? AND chat_id = ?",
                                         (bot_id, chat_id)).fetchone()[0]
                if total >= limit:
                    return None
            db.execute("INSERT INTO follows (bot_id, chat_id, key, name, daily, lang, created) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bot_id, chat_id, key) DO UPDATE SET "
                             "name = excluded.name, daily = excluded.daily, lang = excluded.lang",
                             (bot_id, chat_id, key, name, int(daily), lang, time.time()))
        return known

    def unfollow(self, bot_id: int, chat_id: int, key: str) -> bool:
        """Stop following ``key`` in ``chat_id``; whether it was followed."""
        with self._db.session() as db:
            return db.execute("DELETE FROM follows WHERE bot_id = ? AND chat_id = ? AND key = ?",
                                    (bot_id, chat_id, key)).rowcount > 0

    def follows_of(self, bot_id: int, chat_id: int) -> list[Follow]:
        """What ``chat_id`` follows, in the order it began following."""
        with self._db.session() as db:
            rows = db.execute("SELECT chat_id, key, name, daily, lang FROM follows WHERE bot_id = ? "
                                    "AND chat_id = ? ORDER BY created, key", (bot_id, chat_id)).fetchall()
        return [Follow(int(c), str(k), str(n), bool(d), lang) for c, k, n, d, lang in rows]

    def followers(self, bot_id: int, keys: Iterable[str], daily: bool | None = None) -> list[Follow]:
        """The follows of any of ``keys`` (only the daily ones, or only the others, if ``daily`` is given)."""
        keys = sorted(set(keys))
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        mode = "" if daily is None else f" AND daily = {int(daily)}"
        with self._db.session() as db:
            rows = db.execute(f"SELECT chat_id, key, name, daily, lang FROM follows WHERE bot_id = ? "
                                    f"AND key IN ({marks}){mode} ORDER BY created, chat_id",
                                    (bot_id, *keys)).fetchall()
        return [Follow(int(c), str(k), str(n), bool(d), lang) for c, k, n, d, lang in rows]

    def daily_follows(self, bot_id: int) -> list[Follow]:
        """Every follow that asked for a daily digest."""
        with self._db.session() as db:
            rows = db.execute("SELECT chat_id, key, name, daily, lang FROM follows WHERE bot_id = ? "
                                    "AND daily = 1 ORDER BY key, chat_id", (bot_id,)).fetchall()
        return [Follow(int(c), str(k), str(n), bool(d), lang) for c, k, n, d, lang in rows]

    def follow_counts(self) -> dict[str, int]:
        """Followers per followed name (as shown), most followed first, over every bot of the file."""
        with self._db.session() as db:
            rows = db.execute("SELECT MAX(name) AS shown, COUNT(*) AS n FROM follows GROUP BY key "
                              "ORDER BY n DESC, shown").fetchall()
        return {str(name): int(n) for name, n in rows}

    def follow_totals(self, bot_id: int) -> tuple[int, int, int]:
        """(chats that follow something, follows, daily follows) of one bot."""
        with self._db.session() as db:
            row = db.execute("SELECT COUNT(DISTINCT chat_id), COUNT(*), COALESCE(SUM(daily), 0) FROM follows "
                                   "WHERE bot_id = ?", (bot_id,)).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def queue_deliveries(self, bot_id: int, deliveries: Iterable[Delivery], when: float | None = None,
                         digest_moment: float | None = None) -> int:
        """Put messages into the outbox, in one transaction; returns how many rows were new.

        A (chat, item) already in the outbox (sent, pending or dropped) is left as it is: that is what
        makes each article reach a chat at most once, whichever of its tags the chat follows and however
        often it is announced. With ``digest_moment`` the digest run of that moment is recorded in the
        same transaction, so a crash leaves it either done with its digests queued or not done at all.
        """
        now = time.time() if when is None else when
        added = 0
        with self._db.transaction() as db:
            for delivery in deliveries:
                if not delivery.chats:
                    continue
                message = db.execute(
                    "INSERT INTO outbox_messages (html, buttons, preview_url, created) VALUES (?, ?, ?, ?) "
                    "RETURNING id", (delivery.html, json.dumps(delivery.buttons, ensure_ascii=False),
                                     delivery.preview_url, now)).fetchone()[0]
                added += db.executemany(
                    "INSERT INTO outbox (bot_id, chat_id, item, message_id, queued) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    [(bot_id, chat, delivery.item, message, now) for chat in delivery.chats])
            if digest_moment is not None:
                db.execute("INSERT INTO digest_runs (bot_id, moment) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                 (bot_id, digest_moment))
        return added

    def due_deliveries(self, bot_id: int, now: float, limit: int, skip: Iterable[int] = ()) -> list[OutboxMessage]:
        """Claim the pending outbox rows that may go now, oldest first, none for the chats in ``skip``.

        Claimed for ``outbox_lease`` seconds: replicas sharing the outbox each send different rows, and
        the rows of a replica that died go out from another once its claim expires. Rows taken but not
        sent go back with ``release_deliveries``; ``delivered`` and ``postpone`` end a claim too.
        """
        skipped = sorted(set(skip))
        marks = ", ".join("?" * len(skipped))
        without = f" AND o.chat_id NOT IN ({marks})" if skipped else ""
        clock = time.time()
        with self._db.transaction() as db:
            picked = [int(row[0]) for row in db.execute(
                "SELECT o.rowid FROM outbox o WHERE o.bot_id = ? AND o.outcome IS NULL AND o.not_before <= ? "
                f"AND (o.lease_until IS NULL OR o.lease_until <= ?){without} ORDER BY o.queued, o.rowid LIMIT ?"
                + self._db.skip_locked, (bot_id, now, clock, *skipped, limit)).fetchall()]
            if not picked:
                return []
            ids = ", ".join("?" * len(picked))
            claimed = {int(row[0]) for row in db.execute(
                f"UPDATE outbox SET owner = ?, lease_until = ? WHERE rowid IN ({ids}) AND outcome IS NULL "
                "AND (lease_until IS NULL OR lease_until <= ?) RETURNING rowid",
                (self.owner, clock + self.outbox_lease, *picked, clock)).fetchall()}
            if not claimed:
                return []
            rows = db.execute(
                "SELECT o.rowid, o.chat_id, o.item, m.html, m.buttons, m.preview_url, o.attempts FROM outbox o "
                f"JOIN outbox_messages m ON m.id = o.message_id WHERE o.rowid IN ({ids}) "
                "ORDER BY o.queued, o.rowid", tuple(picked)).fetchall()
        return [OutboxMessage(int(rowid), int(chat), str(item), str(html),
                              tuple(tuple(row) for row in json.loads(buttons)), preview, int(attempts))
                for rowid, chat, item, html, buttons, preview, attempts in rows if int(rowid) in claimed]

    def release_deliveries(self, rowids: Iterable[int]) -> None:
        """Give back claimed outbox rows that were not sent (this process or another may take them now)."""
        ids = sorted(set(rowids))
        if not ids:
            return
        with self._db.session() as db:
            db.execute(f"UPDATE outbox SET owner = NULL, lease_until = NULL WHERE rowid IN ({', '.join('?' * len(ids))}) "
                       "AND owner = ? AND outcome IS NULL", (*ids, self.owner))

    def pending_deliveries(self, bot_id: int) -> int:
        """Outbox rows not yet sent (nor given up)."""
        with self._db.session() as db:
            return int(db.execute("SELECT COUNT(*) FROM outbox WHERE bot_id = ? AND outcome IS NULL",
                                        (bot_id,)).fetchone()[0])

    def next_due(self, bot_id: int) -> float | None:
        """When the earliest pending row may go (None: nothing pending)."""
        with self._db.session() as db:
            row = db.execute("SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > not_before "
                             "THEN lease_until ELSE not_before END) FROM outbox WHERE bot_id = ? AND outcome IS NULL",
                             (bot_id,)).fetchone()
        return None if row[0] is None else float(row[0])

    def delivered(self, rowid: int, outcome: str = SENT, when: float | None = None) -> None:
        """Record the outcome of an outbox row (``SENT``, ``UNSURE``, "failed: …"): it is not sent again.

        Committed before the next row goes, so a restart (even a SIGKILL) resumes after it. Not flushed
        to disk as the update ledger is: a power cut may send the last second's rows again.
        """
        with self._db.session() as db:
            db.execute("UPDATE outbox SET outcome = ?, done = ?, attempts = attempts + 1, lease_until = NULL "
                       "WHERE rowid = ?",
                             (outcome, time.time() if when is None else when, rowid))

    def postpone(self, rowid: int, until: float) -> None:
        """Try an outbox row again at ``until`` (after a server error), counting the attempt."""
        with self._db.session() as db:
            db.execute("UPDATE outbox SET not_before = ?, attempts = attempts + 1, lease_until = NULL, owner = NULL "
                       "WHERE rowid = ?",
                             (until, rowid))

    def drop_chat(self, bot_id: int, chat_id: int, when: float | None = None) -> int:
        """The chat blocked the bot or is gone: forget its follows and cancel what is queued for it.

        Returns how many follows went (0: dropped already, e.g. by a send that failed at the same time).
        """
        with self._db.transaction() as db:
            gone = db.execute("DELETE FROM follows WHERE bot_id = ? AND chat_id = ?",
                                    (bot_id, chat_id)).rowcount
            db.execute("UPDATE outbox SET outcome = ?, done = ? WHERE bot_id = ? AND chat_id = ? "
                             "AND outcome IS NULL", (DROPPED, time.time() if when is None else when, bot_id, chat_id))
        return gone

    def deliveries_per_day(self, since: float) -> dict[str, int]:
        """Messages to followers Telegram accepted, per local day from the day of ``since`` on."""
        with self._db.session() as db:
            rows = db.execute("SELECT done FROM outbox WHERE outcome = ? AND done >= ?",
                                    (SENT, since)).fetchall()
        days: dict[str, int] = {}
        for (done,) in rows:
            days[day_of(done)] = days.get(day_of(done), 0) + 1
        return days

    def outbox_outcomes(self, bot_id: int, since: float) -> dict[str, int]:
        """Outbox rows by outcome ("pending" for those not done) queued from ``since`` on."""
        with self._db.session() as db:
            rows = db.execute("SELECT COALESCE(outcome, 'pending'), COUNT(*) FROM outbox WHERE bot_id = ? "
                                    "AND queued >= ? GROUP BY 1", (bot_id, since)).fetchall()
        return {str(outcome): int(n) for outcome, n in rows}

    def record_arrivals(self, arrivals: Iterable[tuple[str, str, str]], when: float | None = None) -> None:
        """Note new articles as (key, path, title) under each followed name, for that name's daily digest."""
        now = time.time() if when is None else when
        with self._db.session() as db:
            db.executemany("INSERT INTO arrivals (key, path, title, arrived) VALUES (?, ?, ?, ?) "
                               "ON CONFLICT DO NOTHING",
                                 [(key, path, title, now) for key, path, title in arrivals])

    def arrivals(self, key: str, since: float, until: float) -> list[tuple[str, str]]:
        """(path, title) of the articles that arrived under ``key`` in (since, until], oldest first."""
        with self._db.session() as db:
            rows = db.execute("SELECT path, title FROM arrivals WHERE key = ? AND arrived > ? "
                                    "AND arrived <= ? ORDER BY arrived, path", (key, since, until)).fetchall()
        return [(str(path), str(title)) for path, title in rows]

    def last_digest(self, bot_id: int) -> float | None:
        """The latest digest moment whose digests were queued (None: none yet)."""
        with self._db.session() as db:
            row = db.execute("SELECT MAX(moment) FROM digest_runs WHERE bot_id = ?", (bot_id,)).fetchone()
        return None if row[0] is None else float(row[0])

    def prune_outbox(self, now: float | None = None) -> int:
        """Forget outbox rows, messages and arrivals older than ``query_log_days`` (deliveries done by then)."""
        cutoff = (time.time() if now is None else now) - self.query_log_days * 86400
        with self._db.transaction() as db:
            rows = db.execute("DELETE FROM outbox WHERE outcome IS NOT NULL AND done < ?", (cutoff,)).rowcount
            db.execute("DELETE FROM outbox_messages WHERE created < ? AND id NOT IN "
                             "(SELECT message_id FROM outbox)", (cutoff,))
            db.execute("DELETE FROM arrivals WHERE arrived < ?", (cutoff,))
            db.execute("DELETE FROM digest_runs WHERE moment < ? AND moment < "
                             "(SELECT MAX(moment) FROM digest_runs d WHERE d.bot_id = digest_runs.bot_id)", (cutoff,))
        return rows

    # --- what replicas share besides (rate limits, agreed values) ---------------------------------

    def count_request(self, user_id: int, per_minute: int, now: float | None = None, refund: bool = True) -> int:
        """Count one request of ``user_id`` against ``per_minute``: 0 if it may go, else seconds to wait.

        For replicas that share a database, where one process's memory cannot see the others'
        requests. The window slides as an estimate (this minute's count plus the previous minute's,
        weighted by how much of it the last 60 seconds still cover), and the count is one atomic
        upsert, so replicas answering the same user at once never both pass the limit's last request.
        With ``refund`` a refused request is taken off the count again (it was not answered).
        """
        now = time.time() if now is None else now
        minute = int(now // 60)
        with self._db.session() as db:
            count = int(db.execute("INSERT INTO rate_windows (user_id, minute, count) VALUES (?, ?, 1) "
                                   "ON CONFLICT (user_id, minute) DO UPDATE SET count = rate_windows.count + 1 "
                                   "RETURNING count", (user_id, minute)).fetchone()[0])
            row = db.execute("SELECT count FROM rate_windows WHERE user_id = ? AND minute = ?",
                             (user_id, minute - 1)).fetchone()
            if count == 1 and minute % 10 == 0:  # now and then, forget old minutes
                db.execute("DELETE FROM rate_windows WHERE minute < ?", (minute - 1,))
        before = int(row[0]) if row else 0
        weight = 1.0 - (now - minute * 60) / 60
        if count + before * weight <= per_minute:
            return 0
        if not refund:
            return max(1, int(60 - (now - minute * 60)) + 1)
        with self._db.session() as db:  # a refused request does not count against the user
            db.execute("UPDATE rate_windows SET count = count - 1 WHERE user_id = ? AND minute = ?", (user_id, minute))
        return max(1, int(60 - (now - minute * 60)) + 1)

    def shared_value(self, name: str, default: str) -> str:
        """The value every process sharing the state agrees on for ``name``: the first one stored."""
        with self._db.session() as db:
            db.execute("INSERT INTO shared_values (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (name, default))
            row = db.execute("SELECT value FROM shared_values WHERE name = ?", (name,)).fetchone()
        return str(row[0])

    def close(self) -> None:
        self._db.close()


def open_state(settings: Settings) -> State:
    """The state the settings name: the PostgreSQL database of ``state_url`` when it is set, else the
    SQLite file at ``state_path``."""
    target = settings.state_url or settings.state_path
    if settings.state_url and not is_postgres_url(settings.state_url):
        raise ConfigError("state_url must start with postgresql:// (unset it to keep the state in the "
                          f"SQLite file at {settings.state_path})")
    return State(target, settings.query_log_days)


def _key_updates_by_bot(db: Session) -> None:
    """Give a state file of an earlier version, whose ``updates`` were keyed by update id alone,
    the bot id in its key; its rows get UNKNOWN_BOT (they count as the current bot's).

    SQLite cannot change a primary key, so the table is copied into one of the new shape, inside the
    migration's transaction: a bot killed meanwhile leaves the file as it was, and two bots opening
    the file at once migrate it once (the second sees the column inside its own transaction).
    """
    if "bot_id" not in {row[1] for row in db.execute("PRAGMA table_info(updates)").fetchall()}:
        db.execute("ALTER TABLE updates RENAME TO updates_before_bot_ids")
        db.execute(UPDATES_TABLE)
        db.execute("INSERT INTO updates (bot_id, update_id, body, received, handled) "
                   "SELECT ?, update_id, body, received, handled FROM updates_before_bot_ids", (UNKNOWN_BOT,))
        db.execute("DROP TABLE updates_before_bot_ids")
