"""Group commit for replay: the writes of one `Ledger.batch()`, flushed with `executemany`.

Inside a batch the ledger does not execute a statement per write: rows are held here and written
when the batch commits, one `executemany` per statement (and before anything reads inside the
batch, so reads always see the batch's own writes). Nothing changes for durability: the batch is
one transaction either way, so a crash loses exactly the uncommitted block, and a failure while
flushing rolls the whole block back. Upserts are merged in memory (an order filled in the same
block as it was submitted is written once, in its last state); audit rows are chained at flush
time from the tail the transaction reads, in the order the events happened.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import IntegrityError

from nzeza.errors import DataError
from nzeza.store import schema as s
from nzeza.store.statements import AUDIT_TAIL, GENESIS, audit_row, ins, upd


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
            except IntegrityError as exc:
                what = {"fills": "a fill", "intents": "an intent"}.get(table.name, "a row")
                raise DataError(
                    f"{what} written in this batch is already in the ledger ({table.name}); "
                    "the whole batch was rolled back"
                ) from exc
        for table, names, rows in self._updates.values():
            for key, values in rows.items():
                params = {f"k_{k}": v for k, v in zip(names, key, strict=True)}
                conn.execute(upd(table, names), {**params, **values})
        if self._audits:
            last = conn.execute(AUDIT_TAIL).first()
            seq, prev = (int(last[0]), last[1]) if last else (0, GENESIS)
            chain = []
            for ts, session_id, kind, payload in self._audits:
                seq += 1
                row = audit_row(seq, ts, session_id, kind, payload, prev)
                chain.append(row)
                prev = row["hash"]
            _executemany(conn, ("insert", "audit_log"), lambda _c, _cols: ins(s.audit_log), chain)
        self.clear()

    def clear(self) -> None:
        self._inserts.clear()
        self._upserts.clear()
        self._updates.clear()
        self._audits.clear()
        self.intent_keys.clear()
        self.intent_ids.clear()
        self.fill_keys.clear()


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
    conn.exec_driver_sql(sql, [getter(r) for r in rows] if getter is not None else rows)


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
