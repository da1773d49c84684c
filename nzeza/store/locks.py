"""An exclusive lock per session id, held for as long as the session runs.

Two processes running one session id would both send its orders and book its fills: the
second must refuse at once, naming the first. The lock lives with the ledger, since that is
what two processes of one session share:

- SQLite ledger: an OS lock (`flock`, exclusive, non-blocking) on `<ledger>.sessions/<id>.lock`
  beside the database file, holding the holder's pid, host and start time (JSON). The OS drops
  it when the process ends, however it ends (kill -9 included), so a crashed session can be
  resumed at once; its file then still names a pid that no longer runs.
- PostgreSQL ledger (shared by several hosts): a session-level advisory lock on a 64-bit key
  from the session id, held on a connection of its own whose `application_name` names the
  holder; a refused process reads it from `pg_stat_activity`. It ends with the connection:
  `alive()` says whether that connection still answers (a session stops when it does not).
- An in-memory SQLite ledger is private to its process: a lock in this process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text

from nzeza.errors import SessionLocked

_local_lock = threading.Lock()
_local_held: set[tuple[str, str]] = set()  # (ledger url, session id) held in this process


def advisory_key(session_id: str) -> int:
    """The PostgreSQL advisory lock key (signed 64-bit) of a session id."""
    digest = hashlib.sha256(f"nzeza-session:{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _me() -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": now}


def _describe(info: dict[str, Any]) -> str:
    return f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, since {info.get('since')}"


class SessionLock:
    """Hold `session_id` exclusively on `ledger` (a `Ledger`); see the module docstring."""

    def __init__(self, ledger: Any, session_id: str) -> None:
        self.ledger = ledger
        self.session_id = session_id
        self.kind = ledger.engine.dialect.name
        self._fd: int | None = None
        self._conn: Any = None
        self._local = False

    # -- where -------------------------------------------------------------------------------
    def path(self) -> Path | None:
        """The lock file of a SQLite file ledger (None otherwise)."""
        db = self.ledger.engine.url.database
        if self.kind != "sqlite" or not db or db == ":memory:":
            return None
        return Path(f"{db}.sessions") / f"{self.session_id}.lock"

    # -- acquire / release -------------------------------------------------------------------
    def acquire(self) -> SessionLock:
        """Take the lock or raise `SessionLocked` naming its holder."""
        if self.kind == "postgresql":
            self._acquire_pg()
        elif self.path() is None:
            self._acquire_local()
        else:
            self._acquire_file()
        return self

    def _acquire_file(self) -> None:
        path = self.path()
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise SessionLocked(self.session_id, _describe(read_holder(path))) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_me()).encode(), 0)
        self._fd = fd

    def _acquire_pg(self) -> None:
        conn = self.ledger.engine.connect()
        me = _me()
        name = f"nzeza {self.session_id[:24]} pid {me['pid']} {me['host'][:20]}"
        try:
            conn.execute(text("SELECT set_config('application_name', :n, false)"), {"n": name})
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(self.session_id)}
            ).scalar()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if not got:
            holder = pg_holder(conn, self.session_id) or "another connection to the ledger"
            conn.close()
            raise SessionLocked(self.session_id, holder)
        self._conn = conn

    def _acquire_local(self) -> None:
        key = (str(self.ledger.url), self.session_id)
        with _local_lock:
            if key in _local_held:
                raise SessionLocked(self.session_id, _describe(_me()) + " (this process)")
            _local_held.add(key)
        self._local = True

    def alive(self) -> bool:
        """Still held: always for a file or local lock; PostgreSQL: its connection answers."""
        if self._conn is None:
            return self._fd is not None or self._local
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except Exception:
            return False
        return True

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # a reader sees no holder
            os.close(fd)  # closing the descriptor drops the flock
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(self.session_id)}
                )
                conn.commit()
            conn.close()
        if self._local:
            self._local = False
            with _local_lock:
                _local_held.discard((str(self.ledger.url), self.session_id))

    def __enter__(self) -> SessionLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def pg_holder(conn: Any, session_id: str) -> str | None:
    """Who holds `session_id`'s advisory lock on PostgreSQL (None: nobody)."""
    key = advisory_key(session_id) & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(
        text(
            "SELECT a.pid, a.application_name, a.client_addr, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = CAST(:hi AS oid) AND l.objid = CAST(:lo AS oid)"
        ),
        {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
    ).first()
    conn.rollback()
    if row is None:
        return None
    since = row.backend_start.isoformat(timespec="seconds") if row.backend_start else "?"
    return f"{row.application_name or 'a client'} (server pid {row.pid}), since {since}"


def lock_holder(ledger: Any, session_id: str) -> str | None:
    """Who runs `session_id` now, as far as this host can tell, without taking the lock:
    PostgreSQL knows; a SQLite lock file names a pid, alive or not on this host."""
    lock = SessionLock(ledger, session_id)
    if lock.kind == "postgresql":
        with ledger.engine.connect() as conn:
            return pg_holder(conn, session_id)
    path = lock.path()
    if path is None or not path.exists():
        return None
    info = read_holder(path)
    if not info:
        return None
    if info.get("host") == socket.gethostname():
        try:
            os.kill(int(info["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError):
            return None  # the process that held it is gone (a crash leaves its file behind)
        except PermissionError:
            pass  # alive, another user's
    return _describe(info)


__all__ = ["SessionLock", "advisory_key", "lock_holder", "pg_holder"]
