"""The ledger: an ACID record of sessions, intents, orders, fills, positions and audit events.

SQLite with WAL is the embedded default (a file under `runs/`); PostgreSQL by URL for a shared
ledger. The session journals an intent *before* its order is sent (`journal_intent`), and writes
a fill together with the positions and balances it produces in one transaction
(`fill_writer` → `Portfolio.apply_fill(fill, persist=...)`), so a crash at any point restarts into
a state the ledger fully explains. Every row it writes is covered by the keyed audit chain
(`nzeza.store.audit`: what is hashed and chained; `chain`: appends, anchor, migration;
`verify`: `verify_audit`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from nzeza.domain import Fill, Order, PortfolioSnapshot
from nzeza.errors import ConfigError, DataError, ValidationError
from nzeza.ops.walcheckpoint import WalCheckpointer, defer_checkpoints
from nzeza.store import audit as chain_audit
from nzeza.store import schema as s
from nzeza.store.auditfiles import AuditSetup
from nzeza.store.chain import Head, LedgerChain
from nzeza.store.statements import canonical_json, ins, upd
from nzeza.store.verify import AuditReport, verify
from nzeza.store.writebuffer import DuplicateRow, WriteBuffer


def _insert_ignore(conn: Connection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL (no aborted transaction)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


_MIGRATION_LOCK = 0x6E7A657A61  # "nzeza": the PostgreSQL advisory lock key of migrations
_HAS_FILL = select(s.fills.c.id).where(
    s.fills.c.venue == bindparam("venue"), s.fills.c.trade_id == bindparam("trade_id")
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling would start a transaction only at the first
    # INSERT/UPDATE, after a SELECT had already read outside it (the audit chain's tail):
    # transactions are begun by `_sqlite_begin` instead.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL may wait for a lock
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode loses nothing on a process crash (kill -9); only an OS crash could
    # lose the last transactions, never corrupt the file.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    defer_checkpoints(cur)  # a WalCheckpointer thread checkpoints instead (see walcheckpoint)
    cur.close()


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


class Ledger:
    """One ledger database. Safe to open many times; migrations run on open.

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
            with self.engine.begin() as conn:
                yield conn
            return
        conn = getattr(self._local, "writer", None)
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

    def __enter__(self) -> Ledger:
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

    @property
    def schema_version(self) -> int:
        with self._read() as conn:
            return s.current_version(conn)

    # -- audit ----------------------------------------------------------------------------
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

    def verify_audit(self) -> AuditReport:
        """Verify the keyed chain, every covered row and the anchor (see `nzeza.store.verify`).

        An edited, inserted, deleted or reordered row in a covered table, an edited, missing or
        reordered chain entry, a truncated or rebuilt chain, a wrong key: each is a problem
        named in the report."""
        key, anchor = self._chain.key(create=False), self._chain.anchor_state()
        with self._snapshot() as conn:  # after the anchor: it only moves after commits
            return verify(conn, key, anchor)

    @property
    def audit_anchor(self) -> Path | None:
        """This ledger's anchor file (None while its chain has no keyed entry or no key)."""
        anchor = self._chain.anchor() if self._chain.key(create=False) is not None else None
        return anchor.path if anchor is not None else None

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """One consistent read of the whole ledger (PostgreSQL: REPEATABLE READ)."""
        if self._batch is not None:
            self._flush()
            yield self._batch
            return
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def reanchor(self) -> AuditReport:
        """Record the chain's current head as its anchor (a missing, stale or foreign anchor),
        after checking the chain and every row; returns the check. The operator vouches that
        the head is the right one: nothing else can tell a tail truncated before."""
        report = self.verify_audit()
        if any(p.where != "anchor" for p in report.problems):
            return report
        anchor = self._chain.anchor() if self._chain.key(create=False) is not None else None
        if anchor is None:
            return report
        self.audit("anchored", {"entries": report.rows, "anchor": report.anchor})
        head = self._local.head  # what that commit left
        anchor.create(head.seq, head.hash)
        return self.verify_audit()

    def audit_rows(self, session_id: str | None = None) -> list[dict[str, Any]]:
        q = select(s.audit_log).order_by(s.audit_log.c.seq)
        if session_id:
            q = q.where(s.audit_log.c.session_id == session_id)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # -- sessions -------------------------------------------------------------------------
    def start_session(
        self,
        session_id: str,
        *,
        mode: str,
        strategy: str,
        params: Mapping[str, Any],
        venue: str,
        currency: str,
        initial_balances: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
    ) -> bool:
        """Create the session; returns False if it exists already (a restart: it is resumed)."""
        now = self.clock()
        try:
            with self.transaction() as conn:
                conn.execute(
                    ins(s.sessions),
                    dict(
                        session_id=session_id,
                        mode=mode,
                        strategy=strategy,
                        params=canonical_json(dict(params)),
                        venue=venue,
                        currency=currency,
                        initial_balances=canonical_json(
                            {k: str(v) for k, v in initial_balances.items()}
                        ),
                        status="running",
                        started_ns=now,
                        updated_ns=now,
                        config=canonical_json(dict(config or {})),
                    ),
                )
                self.audit(
                    "session_started",
                    {"mode": mode, "strategy": strategy, "params": dict(params), "venue": venue},
                    session_id,
                    conn,
                )
        except IntegrityError:
            existing = self.session(session_id)
            if existing is None:
                raise
            if existing["strategy"] != strategy or json.loads(existing["params"]) != json.loads(
                canonical_json(dict(params))
            ):
                raise ValidationError(
                    "session_id",
                    session_id,
                    "exists with a different strategy or parameters; use a new session id",
                ) from None
            self.set_session_status(session_id, "running", reason="resumed")
            return False
        return True

    def session(self, session_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(
                select(s.sessions).where(s.sessions.c.session_id == session_id)
            ).first()
        return dict(row._mapping) if row else None

    def sessions(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(select(s.sessions).order_by(s.sessions.c.started_ns))
            return [dict(r._mapping) for r in rows]

    def set_session_status(self, session_id: str, status: str, reason: str = "") -> None:
        with self.transaction() as conn:
            conn.execute(
                upd(s.sessions, ("session_id",)),
                {"k_session_id": session_id, "status": status, "updated_ns": self.clock()},
            )
            self.audit("session_status", {"status": status, "reason": reason}, session_id, conn)

    # -- intents (write-ahead journal) ----------------------------------------------------
    def journal_intent(
        self,
        session_id: str,
        seq: int,
        client_order_id: str,
        instrument_id: str,
        side: str,
        quantity: Decimal,
        order_type: str,
        price: Decimal | None,
        bar_ts: int,
        target: Decimal | None = None,
    ) -> bool:
        """Journal an intent before its order is sent. False if this seq was journaled already
        (inside a batch: already in the batch; a duplicate of a committed row fails the flush)."""
        row = dict(
            session_id=session_id,
            seq=seq,
            client_order_id=client_order_id,
            instrument_id=instrument_id,
            side=side,
            quantity=str(quantity),
            order_type=order_type,
            price=None if price is None else str(price),
            bar_ts=bar_ts,
            created_ns=self.clock(),
            status="journaled",
            target=None if target is None else str(target),
        )
        try:
            with self._held() as buf:
                if (session_id, seq) in buf.intent_keys or client_order_id in buf.intent_ids:
                    return False
                buf.intent_keys.add((session_id, seq))
                buf.intent_ids.add(client_order_id)
                buf.insert(s.intents, row)  # its row's digest is its audit record
        except DuplicateRow as exc:  # a committed intent (a batch reports it at its commit)
            if exc.table != "intents":
                raise
            return False
        return True

    def mark_intent(self, client_order_id: str, status: str) -> None:
        with self._held() as buf:
            buf.update(s.intents, {"client_order_id": client_order_id}, {"status": status})

    def mark_bar(self, session_id: str, bar_ts: int) -> None:
        """Record that every effect of the bar at `bar_ts` is in the ledger (resume point)."""
        values = {"last_bar_ts": bar_ts, "updated_ns": self.clock()}
        with self._held() as buf:
            buf.update(s.sessions, {"session_id": session_id}, values)

    def intents(self, session_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.intents)
                .where(s.intents.c.session_id == session_id)
                .order_by(s.intents.c.seq)
            )
            return [dict(r._mapping) for r in rows]

    # -- client order ids without a session prefix (schema v5) -----------------------------
    def claim_client_id(
        self, venue: str, client_order_id: str, session_id: str, seq: str
    ) -> tuple[str, str]:
        """Give `client_order_id` on `venue` to (session, seq) unless it is taken; returns its
        owner (session, seq), which is the caller when the claim held (or was made before)."""
        row = {
            "venue": venue,
            "client_order_id": client_order_id,
            "session_id": session_id,
            "seq": seq,
            "created_ns": self.clock(),
        }
        with self.transaction() as conn:
            # taken already (by this decision before a restart, or by another): keep the owner
            conn.execute(_insert_ignore(conn, s.client_order_ids).values(**row))
        with self._read() as conn:
            owner = conn.execute(
                select(s.client_order_ids.c.session_id, s.client_order_ids.c.seq).where(
                    s.client_order_ids.c.venue == venue,
                    s.client_order_ids.c.client_order_id == client_order_id,
                )
            ).one()
        return str(owner[0]), str(owner[1])

    def client_ids(self, session_id: str, venue: str) -> list[str]:
        """The client order ids claimed by `session_id` on `venue`."""
        with self._read() as conn:
            rows = conn.execute(
                select(s.client_order_ids.c.client_order_id).where(
                    s.client_order_ids.c.session_id == session_id,
                    s.client_order_ids.c.venue == venue,
                )
            )
            return [str(r[0]) for r in rows]

    def last_intent_seq(self, session_id: str) -> int:
        with self._read() as conn:
            value = conn.execute(
                select(func.max(s.intents.c.seq)).where(s.intents.c.session_id == session_id)
            ).scalar()
        return int(value or 0)

    # -- orders ---------------------------------------------------------------------------
    def record_order(
        self,
        session_id: str,
        order: Order,
        event_name: str,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        """Upsert the order's current row and append the event that moved it (one transaction,
        or with the batch / fill it belongs to)."""
        now = self.clock()
        values = dict(
            session_id=session_id,
            instrument_id=order.instrument.id,
            side=order.side.value,
            order_type=order.type.value,
            quantity=str(order.quantity),
            price=None if order.price is None else str(order.price),
            status=order.status.value,
            filled_qty=str(order.filled_qty),
            avg_fill_price=None if order.avg_fill_price is None else str(order.avg_fill_price),
            venue_order_id=order.venue_order_id,
            reason=order.reason or None,
            updated_ns=now,
        )
        event = dict(
            client_order_id=order.client_order_id,
            session_id=session_id,
            event=event_name,
            payload=canonical_json(dict(payload or {})),
            ts=now,
        )
        with self._held() as buf:
            buf.upsert(s.orders, {"client_order_id": order.client_order_id}, values)
            buf.insert(s.order_events, event)

    def orders(self, session_id: str, open_only: bool = False) -> list[dict[str, Any]]:
        q = select(s.orders).where(s.orders.c.session_id == session_id)
        if open_only:
            q = q.where(s.orders.c.status.in_(["submitted", "accepted", "partially_filled"]))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(s.orders.c.updated_ns))]

    # -- fills, positions, balances: one transaction --------------------------------------
    def fill_writer(
        self, session_id: str, venue: str, fill: Fill, order: Order | None = None
    ) -> Callable[[PortfolioSnapshot], None]:
        """A `persist` callback for `Portfolio.apply_fill`: writes the fill, the position and
        balances it produces (and the order's new state) in one transaction."""

        def persist(nxt: PortfolioSnapshot) -> None:
            self.record_fill(session_id, venue, fill, nxt, order)

        return persist

    def record_fill(
        self,
        session_id: str,
        venue: str,
        fill: Fill,
        snapshot: PortfolioSnapshot,
        order: Order | None = None,
    ) -> None:
        now = self.clock()
        row = dict(
            session_id=session_id,
            venue=venue,
            trade_id=fill.trade_id,
            client_order_id=fill.order_id,
            instrument_id=fill.instrument_id,
            side=fill.side.value,
            quantity=str(fill.quantity),
            price=str(fill.price),
            fee=str(fill.fee),
            fee_currency=fill.fee_currency,
            ts=fill.ts,
        )
        pos = snapshot.position(fill.instrument_id)
        upserts: list[tuple[Any, dict[str, Any], dict[str, Any]]] = [
            (
                s.positions,
                {"session_id": session_id, "instrument_id": fill.instrument_id},
                {
                    "quantity": str(pos.quantity),
                    "avg_entry_price": str(pos.avg_entry_price),
                    "realized_pnl": str(pos.realized_pnl),
                    "fees": str(pos.fees),
                    "updated_ns": now,
                },
            )
        ]
        upserts += [
            (
                s.balances,
                {"session_id": session_id, "currency": ccy},
                {"amount": str(amount), "updated_ns": now},
            )
            for ccy, amount in snapshot.balances.items()
        ]
        duplicate = f"fill {fill.trade_id} from {venue} is already in the ledger"
        try:
            with self._held() as buf:
                if (venue, fill.trade_id) in buf.fill_keys:
                    raise DataError(duplicate)
                buf.fill_keys.add((venue, fill.trade_id))
                buf.insert(s.fills, row)
                for table, key, values in upserts:
                    buf.upsert(table, key, values)
                if order is not None:
                    self.record_order(session_id, order, "fill", {"trade_id": fill.trade_id})
        except DuplicateRow as exc:
            if exc.table != "fills":
                raise
            raise DataError(duplicate) from exc

    def has_fill(self, venue: str, trade_id: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(_HAS_FILL, {"venue": venue, "trade_id": trade_id}).first() is not None
            )

    def fills(self, session_id: str) -> list[Fill]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.fills).where(s.fills.c.session_id == session_id).order_by(s.fills.c.id)
            )
            return [
                Fill(
                    r.trade_id,
                    r.client_order_id,
                    r.instrument_id,
                    r.side,
                    Decimal(r.quantity),
                    Decimal(r.price),
                    Decimal(r.fee),
                    r.fee_currency,
                    int(r.ts),
                )
                for r in rows
            ]

    def positions(self, session_id: str) -> dict[str, dict[str, Decimal]]:
        with self._read() as conn:
            rows = conn.execute(select(s.positions).where(s.positions.c.session_id == session_id))
            return {
                r.instrument_id: {
                    k: Decimal(getattr(r, k))
                    for k in ("quantity", "avg_entry_price", "realized_pnl", "fees")
                }
                for r in rows
            }

    def balances(self, session_id: str) -> dict[str, Decimal]:
        with self._read() as conn:
            rows = conn.execute(select(s.balances).where(s.balances.c.session_id == session_id))
            return {r.currency: Decimal(r.amount) for r in rows}

    # -- equity, risk events, promotions --------------------------------------------------
    def record_equity(
        self, session_id: str, ts: int, equity: Decimal, cash: Decimal, gross: Decimal, net: Decimal
    ) -> None:
        row = dict(
            session_id=session_id,
            ts=ts,
            equity=str(equity),
            cash=str(cash),
            gross_exposure=str(gross),
            net_exposure=str(net),
        )
        with self._held() as buf:
            buf.insert(s.equity_snapshots, row)

    def equity_curve(self, session_id: str) -> list[tuple[int, Decimal]]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.equity_snapshots.c.ts, s.equity_snapshots.c.equity)
                .where(s.equity_snapshots.c.session_id == session_id)
                .order_by(s.equity_snapshots.c.id)
            )
            return [(int(ts), Decimal(eq)) for ts, eq in rows]

    def record_risk_event(
        self,
        session_id: str,
        check: str,
        limit: Any,
        value: Any,
        detail: str = "",
        ts: int | None = None,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                ins(s.risk_events),
                dict(
                    session_id=session_id,
                    check_name=check,
                    limit_value=str(limit),
                    value=str(value),
                    detail=detail,
                    ts=ts if ts is not None else self.clock(),
                ),
            )
            self.audit(
                "risk_rejection",
                {"check": check, "limit": str(limit), "value": str(value), "detail": detail},
                session_id,
                conn,
            )

    def risk_events(self, session_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.risk_events)
                .where(s.risk_events.c.session_id == session_id)
                .order_by(s.risk_events.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def add_promotion(
        self,
        *,
        strategy: str,
        params: Mapping[str, Any],
        params_hash: str,
        target: str,
        data_fingerprint: str,
        notebook_hash: str,
        gates: Mapping[str, Any],
        passed: bool,
        binding: Mapping[str, Any] | None = None,
    ) -> int:
        with self.transaction() as conn:
            result = conn.execute(
                ins(s.promotions),
                dict(
                    strategy=strategy,
                    params_hash=params_hash,
                    params=canonical_json(dict(params)),
                    target=target,
                    data_fingerprint=data_fingerprint,
                    notebook_hash=notebook_hash,
                    gates=canonical_json(dict(gates)),
                    passed=int(passed),
                    created_ns=self.clock(),
                    binding=None if binding is None else canonical_json(dict(binding)),
                ),
            )
            promotion_id = int(result.inserted_primary_key[0])
            self.audit(
                "promotion",
                {
                    "id": promotion_id,
                    "strategy": strategy,
                    "params_hash": params_hash,
                    "target": target,
                    "passed": passed,
                },
                None,
                conn,
            )
            return promotion_id

    def promotions(
        self,
        strategy: str | None = None,
        target: str | None = None,
        params_hash: str | None = None,
        passed_only: bool = False,
    ) -> list[dict[str, Any]]:
        q = select(s.promotions)
        if strategy:
            q = q.where(s.promotions.c.strategy == strategy)
        if target:
            q = q.where(s.promotions.c.target == target)
        if params_hash:
            q = q.where(s.promotions.c.params_hash == params_hash)
        if passed_only:
            q = q.where(s.promotions.c.passed == 1)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(s.promotions.c.id))]


def open_ledger(url: str | None = None) -> Ledger:
    """Open the configured ledger (settings' `effective_ledger_url` when `url` is None)."""
    if url is None:
        from nzeza.ops.settings import load_settings

        url = load_settings(require_live=False).effective_ledger_url
    try:
        return Ledger(url)
    except OperationalError as exc:
        raise ConfigError(
            "NZEZA_LEDGER_URL",
            f"cannot open the ledger: {exc.orig}",
            "check the path is writable or the server is running",
        ) from None
