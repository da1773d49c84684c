"""The ledger's hot writes, held and flushed with one `executemany` per statement.

Every intent, order, fill (with its position and balances), equity snapshot, resume point and
audit row is held here and written when its transaction commits: at once for a single write, or
when a `Ledger.batch()` commits (replay's group commit; and before anything reads inside the
batch, so reads always see the batch's own writes). Nothing changes for durability: the batch is
one transaction either way, so a crash loses exactly the uncommitted block, and a failure while
flushing rolls the whole block back. Upserts are merged in memory (an order filled in the same
block as it was submitted is written once, in its last state); audit rows are chained at flush
time from the tail the transaction reads, in the order the events happened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import IntegrityError

from nzeza.errors import DataError
from nzeza.store import schema as s
from nzeza.store.statements import AUDIT_TAIL, GENESIS, audit_row, ins, upd


class DuplicateRow(DataError):
    """A held row collides with a committed one (`table` names which); the block rolled back."""

    def __init__(self, table: str) -> None:
        self.table = table
        what = {"fills": "a fill", "intents": "an intent"}.get(table, "a row")
        super().__init__(
            f"{what} written in this transaction is already in the ledger ({table}); "
            "nothing of the transaction was written"
        )


def lock_audit_chain(conn: Connection) -> None:
    """Serialise appends to the audit chain among concurrent writers of one ledger.

    SQLite: the ledger's write transactions begin IMMEDIATE, so the caller holds the database's
    write lock already. PostgreSQL: a transaction-scoped advisory lock, so two sessions sharing
    the ledger never read the same tail (which would fail the later commit on the unique seq)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_AUDIT_LOCK})")


_AUDIT_LOCK = 0x6E7A61756474  # "nzaudt"


class WriteBuffer:
    def __init__(self) -> None:
        self._inserts: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
        # table name -> (table, key columns, {key tuple: merged values})
        self._upserts: dict[str, tuple[Table, tuple[str, ...], dict[tuple, dict[str, Any]]]] = {}
        self._updates: dict[str, tuple[Table, tuple[str, ...], dict[tuple, dict[str, Any]]]] = {}
        self._audits: list[tuple[int, str | None, str, str]] = []
        self.intent_keys: set[tuple[str, int]] = set()
        self.intent_ids: set[str] = set()
        self.fill_keys: set[tuple[str, str]] = set()

    def __bool__(self) -> bool:
        return bool(self._inserts or self._upserts or self._updates or self._audits)

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        self._inserts.setdefault(table.name, (table, []))[1].append(row)

    def upsert(self, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
        """Insert the row, or update it if it exists; later values win over earlier ones."""
        self._merge(self._upserts, table, key, values)

    def update(self, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
        """Update an existing row (the session's resume point); later values win."""
        self._merge(self._updates, table, key, values)

    @staticmethod
    def _merge(
        into: dict[str, tuple[Table, tuple[str, ...], dict[tuple, dict[str, Any]]]],
        table: Table,
        key: dict[str, Any],
        values: dict[str, Any],
    ) -> None:
        names = tuple(key)
        _, _, rows = into.setdefault(table.name, (table, names, {}))
        rows.setdefault(tuple(key.values()), {}).update(values)

    def audit(self, ts: int, session_id: str | None, kind: str, payload: str) -> None:
        self._audits.append((ts, session_id, kind, payload))

    # -- flushing -----------------------------------------------------------------------------
    def flush(self, conn: Connection) -> None:
        """Write everything held, in this order: upserts, inserts, updates, then the audit chain."""
        for table, names, rows in self._upserts.values():
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for key, values in rows.items():
                row = dict(zip(names, key, strict=True)) | values
                groups.setdefault(tuple(row), []).append(row)
            for group in groups.values():
                _executemany(conn, ("upsert", table.name, names), _upsert_stmt(table, names), group)
        for table, rows in self._inserts.values():
            if not rows:
                continue
            try:
                _executemany(conn, ("insert", table.name), lambda _c, _cols, t=table: ins(t), rows)
            except (IntegrityError, sqlite3.IntegrityError) as exc:
                raise DuplicateRow(table.name) from exc
        for table, names, rows in self._updates.values():
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for key, values in rows.items():
                params = {f"k_{k}": v for k, v in zip(names, key, strict=True)} | values
                groups.setdefault(tuple(params), []).append(params)
            build = lambda _c, _cols, t=table, n=names: upd(t, n)  # noqa: E731
            for group in groups.values():
                _executemany(conn, ("update", table.name, names), build, group)
        if self._audits:
            append_audit(conn, self._audits)
        # the rows are written; the keys seen stay, so a duplicate later in the same batch is
        # still refused at once
        self._inserts.clear()
        self._upserts.clear()
        self._updates.clear()
        self._audits.clear()


def append_audit(conn: Connection, events: list[tuple[int, str | None, str, str]]) -> int:
    """Extend the hash chain with `events` (ts, session id, kind, canonical JSON payload), in
    order, inside `conn`'s transaction; returns the last sequence number written."""
    lock_audit_chain(conn)
    seq, prev = _audit_tail(conn)
    chain = []
    for ts, session_id, kind, payload in events:
        seq += 1
        row = audit_row(seq, ts, session_id, kind, payload, prev)
        chain.append(row)
        prev = row["hash"]
    _executemany(conn, ("insert", "audit_log"), lambda _c, _cols: ins(s.audit_log), chain)
    return seq


# -- executemany at the driver -------------------------------------------------------------------
# Each statement is compiled once per dialect and column list, then run with the driver's own
# executemany: SQLAlchemy's per-row parameter processing is skipped (every value here is a str,
# int or None, which no column type converts).
_COMPILED: dict[tuple[Any, ...], tuple[str, Callable[[dict[str, Any]], tuple] | None]] = {}


def _executemany(
    conn: Connection,
    name: tuple[str, ...],
    build: Callable[[Connection, tuple[str, ...]], Any],
    rows: list[dict[str, Any]],
) -> None:
    cols = tuple(rows[0])
    key = (conn.dialect.name, name, cols)
    hit = _COMPILED.get(key)
    if hit is None:
        compiled = build(conn, cols).compile(dialect=conn.dialect, column_keys=list(cols))
        getter = None
        if compiled.positional:
            names = list(compiled.positiontup)
            pick = itemgetter(*names)
            getter = (lambda r: (pick(r),)) if len(names) == 1 else pick
        hit = _COMPILED[key] = (compiled.string, getter)
    sql, getter = hit
    params = [getter(r) for r in rows] if getter is not None else rows
    raw = _sqlite(conn)
    if raw is None:
        conn.exec_driver_sql(sql, params)
    elif len(params) == 1:
        raw.execute(sql, params[0])
    else:
        raw.executemany(sql, params)


def _sqlite(conn: Connection) -> sqlite3.Connection | None:
    """The sqlite3 connection under `conn` (same transaction), or None on other backends.
    On SQLite the held writes go straight to it: SQLAlchemy's execution context costs more
    than the insert itself there."""
    if conn.dialect.name != "sqlite":
        return None
    return conn.connection.dbapi_connection  # type: ignore[return-value]


def _audit_tail(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the chain's last row, or (0, GENESIS) for an empty chain."""
    key = (conn.dialect.name, ("audit_tail",), ())
    hit = _COMPILED.get(key)
    if hit is None:
        hit = _COMPILED[key] = (
            str(AUDIT_TAIL.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})),
            None,
        )
    raw = _sqlite(conn)
    last = (
        raw.execute(hit[0]).fetchone() if raw is not None else conn.exec_driver_sql(hit[0]).first()
    )
    return (int(last[0]), last[1]) if last else (0, GENESIS)


def _upsert_stmt(
    table: Table, names: tuple[str, ...]
) -> Callable[[Connection, tuple[str, ...]], Any]:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET the row's other columns (SQLite, PostgreSQL);
    columns the row does not carry keep their stored values."""

    def build(conn: Connection, cols: tuple[str, ...]) -> Any:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = dialect_insert(table)
        others = [c for c in cols if c not in names]
        return stmt.on_conflict_do_update(
            index_elements=list(names), set_={c: stmt.excluded[c] for c in others}
        )

    return build
