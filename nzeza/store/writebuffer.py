"""The ledger's hot writes, held and flushed with one `executemany` per statement.

Every intent, order, fill (with its position and balances), equity snapshot, resume point and
audit event is held here and written when its transaction commits: at once for a single write,
or when a `Ledger.batch()` commits (replay's group commit; and before anything reads inside the
batch, so reads always see the batch's own writes). Nothing changes for durability: the batch is
one transaction either way, so a crash loses exactly the uncommitted block, and a failure while
flushing rolls the whole block back. Upserts are merged in memory (an order filled in the same
block as it was submitted is written once, in its last state).

Each flush ends by extending the keyed audit chain (`nzeza.store.chain`): the held events in
the order they happened, then one ``rows`` entry with the digest of every row written — taken
from the values written when they are the whole row (inserts, upserts), read back as stored
otherwise (updates, and rows written by SQLAlchemy statements inside the transaction). New rows
get their ids before they are written, so that their keys are known when they are hashed.
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
from nzeza.store.audit import COVERED_TABLES, Coverage, allocate_ids, autoincrement
from nzeza.store.statements import ins, upd


class DuplicateRow(DataError):
    """A held row collides with a committed one (`table` names which); the block rolled back."""

    def __init__(self, table: str) -> None:
        self.table = table
        what = {"fills": "a fill", "intents": "an intent"}.get(table, "a row")
        super().__init__(
            f"{what} written in this transaction is already in the ledger ({table}); "
            "nothing of the transaction was written"
        )


class WriteBuffer:
    def __init__(self) -> None:
        self._inserts: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
        # table name -> (table, key columns, {key tuple: merged values})
        self._upserts: dict[str, tuple[Table, tuple[str, ...], dict[tuple, dict[str, Any]]]] = {}
        self._updates: dict[str, tuple[Table, tuple[str, ...], dict[tuple, dict[str, Any]]]] = {}
        self._audits: list[tuple[int, str | None, str, str]] = []
        self.coverage = Coverage()  # also fed by SQLAlchemy statements (audit.before_execute)
        self.head: Any = None  # the chain's head after the last flush (chain.Head)
        self.intent_keys: set[tuple[str, int]] = set()
        self.intent_ids: set[str] = set()
        self.fill_keys: set[tuple[str, str]] = set()

    def __bool__(self) -> bool:
        return bool(
            self._inserts or self._upserts or self._updates or self._audits or self.coverage
        )

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
    def flush(self, conn: Connection, chain: Any) -> None:
        """Write everything held — upserts, inserts, updates — then extend the audit chain."""
        cov = self.coverage
        groups: dict[tuple[str, ...], list[dict[str, Any]]]
        for table, names, keyed in self._upserts.values():
            groups = {}
            for key, values in keyed.items():
                row = dict(zip(names, key, strict=True)) | values
                groups.setdefault(tuple(row), []).append(row)
            for group in groups.values():
                _executemany(conn, ("upsert", table.name, names), _upsert_stmt(table, names), group)
                _cover(cov, table, "u", group, names)
        for table, rows in self._inserts.values():
            if not rows:
                continue
            auto = autoincrement(table)
            new = [r for r in rows if r.get(auto) is None] if auto is not None else []
            # one new row: its id is the one the database gives it (SQLite's rowid, RETURNING
            # on PostgreSQL); several: ids are allocated first (one query)
            given = len(rows) == 1 and bool(new)
            if auto is not None and new and not given:
                for row, new_id in zip(new, allocate_ids(conn, table, len(new)), strict=True):
                    row[auto] = new_id
            returning = given and conn.dialect.name != "sqlite"
            build = _insert_builder(table, auto if returning else None)
            try:
                cur = _executemany(conn, ("insert", table.name, returning), build, rows)
            except (IntegrityError, sqlite3.IntegrityError) as exc:
                raise DuplicateRow(table.name) from exc
            if given and auto is not None:
                rows[0][auto] = cur.scalar_one() if returning else cur.lastrowid
            _cover(cov, table, "i", rows, COVERED_TABLES.get(table.name, ()))
        for table, names, keyed in self._updates.values():
            groups = {}
            for key, values in keyed.items():
                params = {f"k_{k}": v for k, v in zip(names, key, strict=True)} | values
                groups.setdefault(tuple(params), []).append(params)
            for group in groups.values():
                _executemany(
                    conn, ("update", table.name, names), _update_builder(table, names), group
                )
            if table.name in COVERED_TABLES:
                cov.read_back(table.name, names, keyed.keys(), "u")
        cov.resolve(conn)
        head = chain.append(conn, self._audits, cov, _insert_entries)
        if head is not None:
            if self.head is not None:
                head.known = self.head.known | head.known
            self.head = head
        # the rows are written; the keys seen stay, so a duplicate later in the same batch is
        # still refused at once
        self._inserts.clear()
        self._upserts.clear()
        self._updates.clear()
        self._audits.clear()
        cov.clear()


Builder = Callable[[Connection, tuple[str, ...]], Any]


def _insert_builder(table: Table, returning: str | None) -> Builder:
    """The INSERT of `table` (RETURNING its `returning` column when given)."""
    if returning is None:
        return lambda _conn, _cols: ins(table)
    return lambda _conn, _cols: ins(table).returning(table.c[returning])


def _update_builder(table: Table, names: tuple[str, ...]) -> Builder:
    """The UPDATE of `table` by its key columns `names`."""
    return lambda _conn, _cols: upd(table, names)


def _cover(
    cov: Coverage, table: Table, op: str, rows: list[dict[str, Any]], names: tuple[str, ...]
) -> None:
    """Digest the rows just written: from their values when they carry every column, else as
    stored (read back at the end of the flush)."""
    if table.name not in COVERED_TABLES:
        return
    width = len(table.columns)
    whole = [r for r in rows if len(r) == width]
    if whole:
        cov.put_rows(table.name, op, whole)
    if len(whole) < len(rows):
        partial = {tuple(r[n] for n in names) for r in rows if len(r) != width}
        cov.read_back(table.name, names, partial, op)


def _insert_entries(conn: Connection, entries: list[dict[str, Any]]) -> None:
    _executemany(conn, ("insert", "audit_log"), lambda _c, _cols: ins(s.audit_log), entries)


# -- executemany at the driver -------------------------------------------------------------------
# Each statement is compiled once per dialect and column list, then run with the driver's own
# executemany: SQLAlchemy's per-row parameter processing is skipped (every value here is a str,
# int or None, which no column type converts).
_COMPILED: dict[tuple[Any, ...], tuple[str, Callable[[dict[str, Any]], tuple] | None]] = {}


def _executemany(
    conn: Connection,
    name: tuple[Any, ...],
    build: Callable[[Connection, tuple[str, ...]], Any],
    rows: list[dict[str, Any]],
) -> Any:
    """Run `build`'s statement once per row; returns the driver's cursor."""
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
        return conn.exec_driver_sql(sql, params[0] if len(params) == 1 else params)
    if len(params) == 1:
        return raw.execute(sql, params[0])
    return raw.executemany(sql, params)


def _sqlite(conn: Connection) -> sqlite3.Connection | None:
    """The sqlite3 connection under `conn` (same transaction), or None on other backends.
    On SQLite the held writes go straight to it: SQLAlchemy's execution context costs more
    than the insert itself there."""
    if conn.dialect.name != "sqlite":
        return None
    return conn.connection.dbapi_connection  # type: ignore[return-value]


def _upsert_stmt(
    table: Table, names: tuple[str, ...]
) -> Callable[[Connection, tuple[str, ...]], Any]:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET the row's other columns (SQLite, PostgreSQL);
    columns the row does not carry keep their stored values."""

    def build(conn: Connection, cols: tuple[str, ...]) -> Any:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
        stmt: Any = dialect_insert(table)
        others = [c for c in cols if c not in names]
        return stmt.on_conflict_do_update(
            index_elements=list(names), set_={c: stmt.excluded[c] for c in others}
        )

    return build


__all__ = [
    "Builder",
    "DuplicateRow",
    "WriteBuffer",
]
