"""A read-only health probe of a ledger that holds no connection of the ledger's own.

`/healthz` runs on request threads. A probe that opened a write transaction through the ledger
gave each request thread a pinned writer connection it never returned: fifteen requests
exhausted the pool and the session died. This probe never touches the ledger's pool:

- SQLite file: a fresh read-only connection (`mode=ro`) reads the schema version and closes;
  the file and its folder must be writable (WAL needs both), checked with `os.access`.
- PostgreSQL: a fresh connection (no pool) in a READ ONLY transaction asks whether the server
  accepts writes (`pg_is_in_recovery`) and whether this user may insert into the ledger.
- In-memory SQLite: nothing to probe outside the process.

`probe(ledger)` returns the check; wrap it in `nzeza.ops.health.CachedCheck` so a burst of
requests runs it at most once per interval.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

Check = Callable[[], tuple[bool, Any]]


def probe(ledger: Any) -> Check:
    """The read-only `/healthz` check of `ledger` (see the module docstring)."""
    url = ledger.engine.url
    if url.get_backend_name() == "sqlite":
        db = url.database
        if not db or db == ":memory:":
            return lambda: (True, "in memory")
        return lambda: _sqlite(Path(db))
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    return lambda: _postgres(engine)


def _sqlite(path: Path) -> tuple[bool, str]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return False, f"not readable: {type(exc).__name__}: {exc}"
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return False, "not writable: the file or its folder is read-only"
    return True, f"writable (schema v{version})"


def _postgres(engine: Any) -> tuple[bool, str]:
    try:
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            replica, may_insert = conn.execute(
                text("SELECT pg_is_in_recovery(), has_table_privilege('fills', 'INSERT')")
            ).one()
            conn.rollback()
    except Exception as exc:
        return False, f"not reachable: {type(exc).__name__}"
    if replica:
        return False, "not writable: the server is a read-only replica"
    if not may_insert:
        return False, "not writable: this user may not insert into the ledger"
    return True, "writable"


__all__ = ["probe"]
