"""How the ledger talks to its database: the engine for a URL, SQLite's pragmas and explicit
transaction begins (WAL, BEGIN IMMEDIATE for writers), and INSERT ... ON CONFLICT DO NOTHING."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

from nzeza.errors import ConfigError
from nzeza.ops.walcheckpoint import defer_checkpoints


def insert_ignore(conn: Connection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL (no aborted transaction)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(table).on_conflict_do_nothing()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling would start a transaction only at the first
    # INSERT/UPDATE, after a SELECT had already read outside it (the audit chain's tail):
    # transactions are begun by `_sqlite_begin` instead.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL may wait for a lock
    _enable_wal(cur)
    # NORMAL in WAL mode loses nothing on a process crash (kill -9); only an OS crash could
    # lose the last transactions, never corrupt the file.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    defer_checkpoints(cur)  # a WalCheckpointer thread checkpoints instead (see walcheckpoint)
    cur.close()


def _enable_wal(cur: Any, wait_s: float = 10.0) -> None:
    """Put the database in WAL mode (persistent: later openers find it set and skip this).

    Switching a new file's journal mode needs an exclusive lock, and SQLite answers `database
    is locked` at once, without its busy handler, when several connections open a new ledger
    at the same moment (a session starting while `nzeza status` reads): retry for `wait_s`."""
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


WRITE = "nzeza_write"  # execution option of a connection whose transactions write
# SQLAlchemy's registry of event listeners is process-wide and unlocked: ledgers opened at once
# by several threads register theirs one at a time
_LISTEN_LOCK = threading.Lock()


def _sqlite_begin(conn: Connection) -> None:
    """Begin every SQLite transaction explicitly. A writer's takes the database's write lock at
    once (BEGIN IMMEDIATE; a second writer waits up to busy_timeout), so what it reads (the audit
    chain's tail, a fill's position) cannot change before it writes. Readers begin a deferred
    transaction: one consistent snapshot, no lock on writers."""
    immediate = conn.get_execution_options().get(WRITE)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for `url` (sqlite:///path or postgresql+psycopg://...)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10})
        with _LISTEN_LOCK:
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql+psycopg://"):
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(
        "NZEZA_LEDGER_URL",
        f"unsupported ledger URL scheme in {url.split(':')[0]!r}",
        "use sqlite:///path/to/ledger.sqlite or postgresql://user@host/db",
    )


__all__ = [
    "WRITE",
    "insert_ignore",
    "make_engine",
]
