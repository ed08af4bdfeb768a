"""A real PostgreSQL server for the tests, started in a temporary folder and stopped at the end.

Why not pytest-postgresql: tests here may run as root (CI containers do), and PostgreSQL refuses to
run as root; this small wrapper starts the server as an unprivileged user (``postgres``, which
Debian's package creates) in that case, and as the current user otherwise. It listens on 127.0.0.1
on a free port, with trust authentication, and each test gets a database of its own
(``PostgresServer.fresh_database``), so tests never see each other's rows.

Where no PostgreSQL binaries exist (``initdb`` and ``pg_ctl`` on PATH or under
``/usr/lib/postgresql/*/bin``), ``find_binaries`` returns None and the PostgreSQL half of the
parametrized tests is skipped with a message that says how to install them.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SKIP_REASON = ("PostgreSQL binaries (initdb, pg_ctl) not found: the PostgreSQL-backed state tests are skipped; "
               "install them (Debian: apt-get install -y postgresql) to run them")
SUPERUSER = "articlebot"


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's versioned folders)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "pg_ctl").is_file() and Path(folder, "initdb").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in a fresh folder; ``stop`` removes it all."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix="articlebot-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.user = "postgres"
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError:
                raise RuntimeError("tests run as root and no 'postgres' user exists to run PostgreSQL as "
                                   "(Debian's postgresql package creates it)") from None
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._counter = itertools.count(1)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120,
                              cwd=self.root)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def start(self) -> PostgresServer:
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        # fsync off: a test server never survives a power cut anyway, and it is many times faster
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off " \
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "server.log"), "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"test_{next(self._counter)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def raw_rows(target: str | Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` read straight from a state store (an SQLite file or a PostgreSQL URL), past the
    State class: what the tests check is what was really written."""
    if str(target).startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(str(target)) as connection:
            return [tuple(row) for row in connection.execute(sql).fetchall()]
    import sqlite3

    connection = sqlite3.connect(str(target))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def columns(target: str | Path, table: str) -> set[str]:
    """The column names of ``table`` in a state store."""
    if str(target).startswith(("postgresql://", "postgres://")):
        return {str(row[0]) for row in raw_rows(target, "SELECT column_name FROM information_schema.columns "
                                                        f"WHERE table_name = '{table}'")}
    return {str(row[1]) for row in raw_rows(target, f"PRAGMA table_info({table})")}
