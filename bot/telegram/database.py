"""The two databases the bot's state can live in, behind one small adapter: SQLite and PostgreSQL.

Why an adapter and not two state classes: the state's SQL is the same in both. SQLite (3.35 and
later) and PostgreSQL both accept ``INSERT … ON CONFLICT … DO UPDATE/NOTHING`` with ``excluded.``,
``RETURNING`` and partial indexes, so ``bot.telegram.state.State`` writes each statement once, in
that shared dialect, with ``?`` placeholders. What truly differs lives here and nowhere else:

- placeholders (``?`` → ``%s``) and column types in table definitions (PostgreSQL's ``INTEGER`` and
  ``REAL`` are 32-bit: chat ids and timestamps need ``BIGINT`` and ``DOUBLE PRECISION``);
- how a transaction starts (SQLite ``BEGIN IMMEDIATE`` takes the file's write lock at once;
  PostgreSQL takes row locks as it goes, and ``FOR UPDATE SKIP LOCKED`` lets two replicas claim
  different rows at the same moment);
- connections: one SQLite connection behind a lock (one process owns the file), or a psycopg pool
  (many threads and many replicas at once);
- durability: SQLite flushes only the update ledger's commits to disk (``durable``); PostgreSQL
  flushes every commit already (``synchronous_commit`` on);
- locks across processes (``exclusive``): a PostgreSQL advisory lock; with SQLite, one process
  owns the state, so a lock within the process is enough.

psycopg is imported here only. A database URL's password never reaches an error or a log line
(``redact_url``).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.errors import ConfigError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """Whether a state location names a PostgreSQL database rather than an SQLite file."""
    return str(target).startswith(POSTGRES_SCHEMES)


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: safe for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


class Rows(Protocol):
    """What a statement returns: a DB-API cursor's reading side."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Session(Protocol):
    """One connection's worth of statements (inside ``Database.session`` or ``transaction``)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int: ...


class Held:
    """A named lock held until ``release``; ``alive`` says whether it still is (its connection lives)."""

    def alive(self) -> bool:
        return True

    def release(self) -> None:
        """Let the lock go (another process may take it)."""


class _SqliteSession:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        return self._db.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        return self._db.executemany(sql, [tuple(row) for row in rows]).rowcount


class SqliteDatabase:
    """The state file: one connection, in autocommit, behind a lock (WAL journal)."""

    dialect = "sqlite"
    shared = False
    skip_locked = ""
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A commit reaches the OS before it returns, so it survives the process being killed. Only
        # the update ledger's writes are also flushed to disk (``durable``), so that they survive a
        # power cut too: the rest (buttons, counters, the question log) may lose its last second
        # there, which costs little, and a flush costs milliseconds.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()
        self._session = _SqliteSession(self._db)
        self._named: dict[str, threading.Lock] = {}

    def ddl(self, sql: str) -> str:
        return sql.replace("/*rowid*/", "")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._lock:
            yield self._session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Statements run inside commit together or not at all; the write lock is taken at once."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._session
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def durable(self) -> Iterator[Session]:
        """Statements run inside are flushed to disk when they commit.

        The ledger's records must survive a power cut: a received update lost there would never be
        answered (Telegram counts it as delivered), and a lost "answered" mark answers it again.
        The data reaches the OS at the same moment either way, so a killed process loses nothing
        more; the flush only follows it.
        """
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                yield self._session
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """One holder of ``name`` at a time in this process (one process owns an SQLite state file)."""
        with self._lock:
            lock = self._named.setdefault(name, threading.Lock())
        with lock:
            yield

    def try_hold(self, name: str) -> Held | None:
        """``name`` held by this process from now on: one process owns an SQLite state file."""
        return Held()

    def migration_lock(self, session: Session) -> None:
        """Nothing to add: ``BEGIN IMMEDIATE`` already keeps a second process out."""

    def close(self) -> None:
        with self._lock:
            self._db.close()


_TYPES = [(re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
          (re.compile(r"\bINTEGER\b"), "BIGINT"), (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
          (re.compile(r"/\*rowid\*/"), ",\n    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE")]
"""SQLite table definitions made PostgreSQL's; ``/*rowid*/`` marks a table whose SQLite rowid the
state's SQL reads (PostgreSQL has none, so it gets a column of that name)."""


def _placeholders(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class _PostgresSession:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        if not params:  # a script of several statements, or one without parameters (no % escaping then)
            return self._connection.execute(sql)  # type: ignore[no-any-return]
        return self._connection.execute(_placeholders(sql), tuple(params))  # type: ignore[no-any-return]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        batch = [tuple(row) for row in rows]
        if not batch:
            return 0
        with self._connection.cursor() as cursor:
            cursor.executemany(_placeholders(sql), batch)
            return int(cursor.rowcount)


class PostgresDatabase:
    """PostgreSQL through a psycopg 3 connection pool; connections run in autocommit, so a statement
    outside ``transaction`` commits on its own, as with the SQLite state file."""

    dialect = "postgresql"
    shared = True
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16, timeout: float = 30.0) -> None:
        import psycopg
        import psycopg_pool

        self.errors = (psycopg.Error, psycopg_pool.PoolTimeout)
        self.url = url
        self._pool = psycopg_pool.ConnectionPool(url, min_size=min_size, max_size=max_size, timeout=timeout,
                                                 kwargs={"autocommit": True}, open=False,
                                                 name="articlebot-state")
        try:
            self._pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
            self._pool.close()
            message = str(error)
            password = urlsplit(url).password
            if password:
                message = message.replace(password, "***")
            raise ConfigError(f"cannot connect to the state database {redact_url(url)}: {message}") from None

    def ddl(self, sql: str) -> str:
        for pattern, replacement in _TYPES:
            sql = pattern.sub(replacement, sql)
        return sql

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._pool.connection() as connection:
            yield _PostgresSession(connection)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._pool.connection() as connection, connection.transaction():
            yield _PostgresSession(connection)

    def durable(self) -> Any:
        """Every PostgreSQL commit is flushed before it returns (``synchronous_commit`` on)."""
        return self.session()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """One holder of ``name`` among every process using this database (a session advisory lock,
        released when the block ends or, if the holder dies, when its connection closes)."""
        key = zlib.crc32(f"articlebot:{name}".encode())
        with self._pool.connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def try_hold(self, name: str) -> Held | None:
        """Take ``name`` if no other process holds it, and keep it (on a connection of its own) until
        released; None when another holds it. A holder that dies loses it with its connection, so
        another process's next try gets it."""
        key = zlib.crc32(f"articlebot:{name}".encode())
        connection = self._pool.getconn()
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            got = bool(row and row[0])
        except BaseException:
            self._pool.putconn(connection)
            raise
        if not got:
            self._pool.putconn(connection)
            return None
        return _PostgresHeld(self._pool, connection, key)

    def migration_lock(self, session: Session) -> None:
        """Two replicas starting at once migrate one after the other (released at commit)."""
        session.execute("SELECT pg_advisory_xact_lock(?)", (zlib.crc32(b"articlebot:schema"),))

    def close(self) -> None:
        self._pool.close()


class _PostgresHeld(Held):
    def __init__(self, pool: Any, connection: Any, key: int) -> None:
        self._pool, self._connection, self._key = pool, connection, key

    def alive(self) -> bool:
        try:
            self._connection.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - a broken connection took the lock with it
            return False

    def release(self) -> None:
        try:
            self._connection.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except Exception:  # noqa: BLE001 - gone with its connection already
            pass
        finally:
            self._pool.putconn(self._connection)


def open_database(target: Path | str) -> SqliteDatabase | PostgresDatabase:
    """A PostgreSQL database for a ``postgresql://`` URL, else the SQLite file at ``target``."""
    if is_postgres_url(target):
        return PostgresDatabase(str(target))
    return SqliteDatabase(target)
