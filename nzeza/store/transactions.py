"""The ledger's transactions: migrations on open (once, whoever else opens), write
transactions (SQLite: one open connection per writing thread, BEGIN IMMEDIATE), batches of held
writes flushed with the audit chain extended in the same transaction, and consistent reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import Connection, event, func, select

from nzeza.ops.walcheckpoint import WalCheckpointer
from nzeza.store import audit as chain_audit
from nzeza.store import schema as s
from nzeza.store.auditfiles import AuditSetup
from nzeza.store.chain import Head, LedgerChain
from nzeza.store.connection import _LISTEN_LOCK, WRITE, make_engine
from nzeza.store.statements import canonical_json
from nzeza.store.writebuffer import WriteBuffer

_MIGRATION_LOCK = 0x6E7A657A61  # "nzeza": the PostgreSQL advisory lock key of migrations


class LedgerCore:
    """A ledger database's plumbing: migrations on open, transactions, batches of held
    writes covered by the audit chain, reads. The per-aggregate stores build on it.

    Every write is covered by the ledger's keyed audit chain (`nzeza.store.audit`): `audit`
    (settings' `NZEZA_AUDIT_KEY` / `NZEZA_AUDIT_DIR` when None) says where its key and anchor
    are; they are read on first need, so reading a ledger needs neither."""

    def __init__(
        self,
        url: str,
        clock: Callable[[], int] = time.time_ns,
        audit: AuditSetup | None = None,
    ) -> None:
        self.url = url
        self.clock = clock
        self.engine = make_engine(url)
        self._chain = LedgerChain(self.engine, clock, audit)
        # SQLAlchemy statements inside a ledger transaction are covered like the held writes
        with _LISTEN_LOCK:
            event.listen(self.engine, "before_execute", chain_audit.before_execute, retval=True)
            event.listen(self.engine, "after_execute", chain_audit.after_execute)
        self._local = threading.local()  # the open batch and held writes, per thread
        self._writers: list[Connection] = []  # SQLite: one open connection per writing thread
        self._writers_lock = threading.Lock()
        self._checkpointer: WalCheckpointer | None = None  # started by the first write
        self._migrate()

    def _migrate(self) -> None:
        """Bring the schema to the latest version, once, whoever else opens it at the same time.

        A ledger with no migration pending is not locked at all. Otherwise the check and the
        upgrade run under the database's write lock (SQLite: BEGIN IMMEDIATE, which also makes the
        DDL transactional; PostgreSQL: a transaction-scoped advisory lock), so concurrent first
        opens — a session starting while `nzeza status` or a dashboard reads — migrate once. The
        audit chain is verified before (a broken one is not migrated) and extended after, in the
        same transaction (`LedgerChain.before_migration` / `after_migration`).
        """
        with self.engine.connect() as conn:
            if not s.pending(conn):
                return
            conn.rollback()
            conn.execution_options(**{WRITE: True})  # SQLite: BEGIN IMMEDIATE
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            before = s.applied_versions(conn)
            if not s.pending(conn):  # another process migrated meanwhile
                conn.rollback()
                return
            self._chain.before_migration(conn, before)
            s.migrate(conn, self.clock())
            head = self._chain.after_migration(conn, before)
            conn.commit()
        self._chain.migrated(head, self._lookup_hash)

    @property
    def _batch(self) -> Connection | None:
        return getattr(self._local, "batch", None)

    @property
    def _buf(self) -> WriteBuffer | None:
        return getattr(self._local, "buf", None)

    def close(self) -> None:
        self._chain.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._writers_lock:
            for conn in self._writers:
                conn.close()
            self._writers.clear()
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it runs on the thread's own open connection (a
        checkout from the pool and its reset cost more than the journal write itself)."""
        self._writing()
        if self.engine.dialect.name != "sqlite":
            with self.engine.begin() as pg_conn:
                yield pg_conn
            return
        conn: Any = getattr(self._local, "writer", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._local.writer = self.engine.connect().execution_options(**{WRITE: True})
            with self._writers_lock:
                self._writers.append(conn)
        with conn.begin():
            yield conn

    def _writing(self) -> None:
        """Before the first write of a SQLite file ledger: start its WAL checkpointer."""
        if self._checkpointer is not None or self.engine.dialect.name != "sqlite":
            return
        path = self.engine.url.database
        if path and path != ":memory:":
            self._checkpointer = WalCheckpointer(path).start(owner=self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction; inside `batch()`, the batch's own (one commit for the whole batch).

        Rows written in it with SQLAlchemy statements (`conn.execute(ins(table), row)`, updates,
        deletes) are covered by the audit chain when it commits, like the held writes."""
        if self._batch is not None:
            self._flush()  # statements executed directly come after the held ones
            yield self._batch
            return
        with self.batch() as conn:
            yield conn

    @contextmanager
    def batch(self) -> Iterator[Connection]:
        """Group every write made inside into one transaction (group commit).

        Replay uses it per block of bars: a crash loses at most the uncommitted block, and the
        block's resume point (`mark_bar`) is in the same transaction, so a restart redoes
        exactly the lost bars. A failure anywhere rolls the whole block back. The hot writes
        (intents, orders, fills, positions, balances, equity, resume point, audit) are held in a
        `WriteBuffer` and flushed with one `executemany` per statement before the commit (and
        before any read inside the batch). An intent or fill that duplicates a committed row is
        then reported at the flush, as a `DataError` that rolls the block back.
        """
        if self._batch is not None:
            yield self._batch
            return
        buf = WriteBuffer()
        with self._begin() as conn:
            self._local.batch, self._local.buf = conn, buf
            conn.info[chain_audit.TRACK] = buf.coverage
            conn.info.pop(chain_audit.PENDING, None)
            try:
                yield conn
                self._flush()
            finally:
                conn.info.pop(chain_audit.TRACK, None)
                conn.info.pop(chain_audit.PENDING, None)
                self._local.batch = self._local.buf = None
        self._committed(buf.head)

    def _flush(self) -> None:
        buf, conn = self._buf, self._batch
        if buf and conn is not None:
            buf.flush(conn, self._chain)

    def _committed(self, head: Head | None) -> None:
        """After a commit: remember the head, and move the anchor to it."""
        if head is not None:
            self._local.head = head
            self._chain.committed(head, self._lookup_hash)

    def _lookup_hash(self, seq: int) -> str | None:
        """The hash of chain entry `seq`, as committed (checked before the anchor moves)."""
        writer = getattr(self._local, "writer", None)
        idle = writer is not None and not writer.closed and not writer.in_transaction()
        return self._chain.lookup_hash(seq, writer if idle else None)

    @contextmanager
    def _held(self) -> Iterator[WriteBuffer]:
        """Where the hot writes go: the open batch's buffer, or a buffer of their own that is
        flushed and committed as one transaction when the block exits (nothing is written if
        it raises). Either way the statements run once each, compiled, at the driver."""
        if self._buf is not None:
            yield self._buf
            return
        buf = self._local.buf = WriteBuffer()
        try:
            yield buf
        finally:
            self._local.buf = None
        if buf:
            with self._begin() as conn:
                buf.flush(conn, self._chain)
            self._committed(buf.head)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._batch is not None:  # see the batch's own uncommitted writes
            self._flush()
            yield self._batch
            return
        with self.engine.connect() as conn:
            yield conn

    def audit(
        self,
        kind: str,
        payload: Mapping[str, Any],
        session_id: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Record an audit event, chained when its transaction commits (with the writes of the
        open batch or transaction, or on its own). Returns 0: the entry's sequence number is
        assigned at the commit. `conn` is accepted for callers inside `transaction()`."""
        with self._held() as buf:
            buf.audit(self.clock(), session_id, kind, canonical_json(payload))
        return 0

    @property
    def schema_version(self) -> int:
        with self._read() as conn:
            return s.current_version(conn)


__all__ = [
    "LedgerCore",
]
