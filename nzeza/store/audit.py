"""The keyed audit chain: which tables it covers, how rows and entries are hashed, and how the
writes of one transaction are chained.

Every row of every covered table is in the chain. When a transaction writes or changes rows,
the last entry it appends (kind ``rows``) carries, per table, each row's key and the 128-bit
SHA-256 of its canonical JSON (every column, the key included) — as it was written, or as it
is stored after an update. A later entry for the same key supersedes the earlier one, so the
chain always holds the digest of every row as it must be now. Ops: ``i`` a new row (its key
was never in the chain), ``u`` a row written or changed, ``d`` a row deleted.

Each entry is linked to the one before (``prev_hash``) and hashed with HMAC-SHA256 under the
ledger's audit key over the canonical JSON of (seq, ts, session id, kind, payload, prev): with
write access to the database but without the key, nobody can edit, add, drop or reorder rows
or entries and rebuild a chain that verifies. Entries written before schema 4 (plain SHA-256
over ``|``-joined text) are verified as such up to the ``adopted`` entry that took them over.

Covering a new table is one line in `COVERED_TABLES` (its name and primary-key columns);
`tests/store/test_audit.py` fails for a table that is neither covered nor in `EXEMPT_TABLES`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from sqlalchemy import Connection, Delete, Insert, Table, Update, select

from nzeza.errors import DataError
from nzeza.store import schema as s
from nzeza.store.statements import canonical_bytes

# table -> its key columns (the primary key): one line per covered table
COVERED_TABLES: dict[str, tuple[str, ...]] = {
    "sessions": ("session_id",),
    "intents": ("id",),
    "orders": ("client_order_id",),
    "order_events": ("id",),
    "fills": ("id",),
    "positions": ("session_id", "instrument_id"),
    "balances": ("session_id", "currency"),
    "equity_snapshots": ("id",),
    "risk_events": ("id",),
    "promotions": ("id",),
    "trials": ("id",),
    "trial_returns": ("sha256",),
    "verdicts": ("id",),
    "client_order_ids": ("venue", "client_order_id"),
    "funding": ("id",),
    "funding_checks": ("id",),
    "liquidations": ("id",),
}
EXEMPT_TABLES: dict[str, str] = {
    "schema_version": "migration bookkeeping; every migration since 4 is an entry in the chain",
    "audit_log": "the chain itself: every entry is keyed and linked to the one before",
}

GENESIS = "0" * 64  # the prev_hash of the first entry
ROWS = "rows"  # the kind of an entry that carries row digests
FIRST_KEYED = ("genesis", "adopted")  # the kinds that may open the keyed part of a chain
TRACK = "nzeza_audit_coverage"  # Connection.info key of the open transaction's Coverage
PENDING = "nzeza_audit_pending"  # ... and of the covered INSERT being executed
_AUDIT_LOCK = 0x6E7A61756474  # "nzaudt": PostgreSQL advisory lock of chain appends
_KEY_ID_LABEL = b"nzeza audit key id"


@dataclass(frozen=True)
class AuditKey:
    """The chain's HMAC key. `key_id` names it in messages and in the chain (a keyed hash of a
    fixed label: it identifies the key without revealing anything of it)."""

    secret: bytes = field(repr=False)
    source: str = ""  # where it came from ("NZEZA_AUDIT_KEY" or the key file's path)

    @property
    def key_id(self) -> str:
        return hmac.digest(self.secret, _KEY_ID_LABEL, "sha256").hex()[:16]

    @cached_property
    def _keyed(self) -> Any:
        return hmac.new(self.secret, digestmod=hashlib.sha256)  # copied: keyed once

    def mac(self, message: bytes) -> str:
        h = self._keyed.copy()
        h.update(message)
        return h.hexdigest()


# -- hashing --------------------------------------------------------------------------------------


def row_digest(row: Mapping[str, Any]) -> str:
    """128-bit SHA-256 (hex) of a row's canonical JSON: every column, key included, sorted."""
    return hashlib.sha256(canonical_bytes(row)).hexdigest()[:32]


def entry_hash(
    key: AuditKey, seq: int, ts: int, session_id: str | None, kind: str, payload: str, prev: str
) -> str:
    """HMAC-SHA256 of one chain entry: canonical JSON of its fields and the previous hash."""
    return key.mac(canonical_bytes([seq, ts, session_id, kind, payload, prev]))


def legacy_hash(
    seq: int, ts: int, session_id: str | None, kind: str, payload: str, prev: str
) -> str:
    """How entries were hashed before schema 4 (unkeyed; verified only up to adoption)."""
    text = f"{seq}|{ts}|{session_id or ''}|{kind}|{payload}|{prev}"
    return hashlib.sha256(text.encode()).hexdigest()


def key_of(table: str, row: Mapping[str, Any]) -> Any:
    """The row's key as the chain records it: the value, or a tuple for a composite key."""
    cols = COVERED_TABLES[table]
    return row[cols[0]] if len(cols) == 1 else tuple(row[c] for c in cols)


def show_key(table: str, key: Any) -> str:
    cols = COVERED_TABLES.get(table, ("key",))
    values = key if isinstance(key, tuple) else (key,)
    return " ".join(f"{c}={v}" for c, v in zip(cols, values, strict=False))


# -- one transaction's coverage -------------------------------------------------------------------


class Coverage:
    """The rows one transaction wrote, to be chained by its last entry. Rows whose stored
    content is not known from the values written (updates, deletes, writes made with
    SQLAlchemy statements) are read back when the transaction flushes."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[Any, list[Any]]] = {}
        # table -> (where columns, op) -> values to read back
        self.pending: dict[str, dict[tuple[tuple[str, ...], str], set[tuple]]] = {}

    def __bool__(self) -> bool:
        return bool(self.rows or self.pending)

    def put(self, table: str, key: Any, op: str, digest: str | None) -> None:
        rows = self.rows.setdefault(table, {})
        seen = rows.get(key)
        if seen is None:
            rows[key] = [op, digest]
        elif op == "d" and seen[0] == "i":
            del rows[key]  # written and deleted by the same transaction
        else:  # a row new in this transaction stays new, with its last content
            seen[0] = "i" if seen[0] == "i" else op
            seen[1] = digest

    def put_rows(self, table: str, op: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Rows carrying every column of the table, as written (the hot path: inlined)."""
        table = str(table)  # a table's name may be a str subclass, which orjson refuses as a key
        cols = COVERED_TABLES[table]
        into = self.rows.setdefault(table, {})
        single = cols[0] if len(cols) == 1 else None
        sha, dumps, sort = hashlib.sha256, orjson.dumps, orjson.OPT_SORT_KEYS
        for row in rows:
            k = row[single] if single is not None else tuple(row[c] for c in cols)
            try:  # = row_digest(row) for plain values, without its call
                digest = sha(dumps(row, option=sort)).hexdigest()[:32]
            except TypeError:  # a value JSON has no type for: canonical_bytes' conversions
                digest = row_digest(row)
            if k in into:
                self.put(table, k, op, digest)
            else:
                into[k] = [op, digest]

    def read_back(
        self, table: str, where: tuple[str, ...], values: Iterable[tuple], op: str
    ) -> None:
        self.pending.setdefault(str(table), {}).setdefault((where, op), set()).update(values)

    def resolve(self, conn: Connection) -> None:
        """Read back the rows written by statements and updates; digest them as stored."""
        for name, wanted in self.pending.items():
            table = s.metadata.tables[name]
            key_cols = COVERED_TABLES[name]
            for (where, op), values in wanted.items():
                found: set[tuple] = set()
                for row in read_rows(conn, table, where, sorted(values, key=repr)):
                    found.add(tuple(row[c] for c in where))
                    self.put(name, key_of(name, row), op, row_digest(row))
                if where == key_cols and op != "i":
                    for gone in values - found:  # updated to nothing or deleted: gone
                        self.put(name, gone[0] if len(gone) == 1 else gone, "d", None)
        self.pending.clear()

    def payload(self) -> str:
        out: dict[str, dict[str, list[Any]]] = {}
        for table, rows in self.rows.items():
            ops: dict[str, list[Any]] = {}
            for key, (op, digest) in rows.items():
                k = list(key) if isinstance(key, tuple) else key
                ops.setdefault(op, []).append(k if op == "d" else [k, digest])
            out[table] = ops
        return canonical_bytes(out).decode()

    def clear(self) -> None:
        self.rows.clear()
        self.pending.clear()


def parse_rows(payload: str) -> dict[str, dict[str, list[Any]]]:
    return orjson.loads(payload)


_READ_SQL: dict[tuple[str, str, tuple[str, ...], int], tuple[str, list[str]]] = {}


def read_rows(
    conn: Connection,
    table: Table,
    where: tuple[str, ...],
    values: Sequence[tuple],
    chunk: int = 200,
) -> Iterable[dict[str, Any]]:
    """The stored rows of `table` whose `where` columns take one of `values`, as the driver
    returns them (no type processing: the same values verification reads). The SQL is built
    once per shape and run at the driver: an update's read-back is on the hot path."""
    for i in range(0, len(values), chunk):
        part = values[i : i + chunk]
        sql, cols = _read_sql(conn.dialect.name, table, where, len(part))
        params = tuple(v for key in part for v in key)
        if conn.dialect.name == "sqlite":
            rows = conn.connection.dbapi_connection.execute(sql, params)  # type: ignore[union-attr]
        else:
            rows = conn.exec_driver_sql(sql, params)
        for row in rows:
            yield dict(zip(cols, row, strict=True))


def _read_sql(dialect: str, table: Table, where: tuple[str, ...], n: int) -> tuple[str, list[str]]:
    key = (dialect, table.name, where, n)
    hit = _READ_SQL.get(key)
    if hit is None:
        cols = [str(c.name) for c in table.columns]
        mark = "?" if dialect == "sqlite" else "%s"
        one = "(" + " AND ".join(f"{w} = {mark}" for w in where) + ")"
        sql = f"SELECT {', '.join(cols)} FROM {table.name} WHERE " + " OR ".join([one] * n)
        hit = _READ_SQL[key] = (sql, cols)
    return hit


# -- ids of new rows ------------------------------------------------------------------------------


_AUTO: dict[str, str | None] = {}


def autoincrement(table: Table) -> str | None:
    """The table's autoincrement key column, if the chain keys its rows by one."""
    name = table.name
    if name not in _AUTO:
        col = table.autoincrement_column
        keyed = col is not None and COVERED_TABLES.get(name) == (col.name,)
        _AUTO[name] = str(col.name) if col is not None and keyed else None
    return _AUTO[name]


def allocate_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """`n` fresh ids for new rows of `table`, so that a row's key is known when it is hashed.

    PostgreSQL: from the column's sequence. SQLite: after the largest id, inside the write
    transaction (which holds the database's write lock). An id freed by deleting the last row
    can be given again; the chain then records a new row under a key it already had, which
    `audit verify` reports as the deletion it is."""
    name, col = table.name, autoincrement(table)
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{name}', '{col}')) "
            f"FROM generate_series(1, {int(n)})"
        )
        return [int(r[0]) for r in rows]
    raw = conn.connection.dbapi_connection
    top = raw.execute(f"SELECT max({col}) FROM {name}").fetchone()[0] or 0  # type: ignore[union-attr]
    return list(range(top + 1, top + 1 + n))


# -- SQLAlchemy statements inside a ledger transaction --------------------------------------------


def before_execute(
    conn: Connection, clause: Any, multiparams: Any, params: Any, _options: Any
) -> tuple[Any, Any, Any]:
    """Inside a ledger transaction, a statement that writes a covered table is covered too: new
    rows get their ids first (so their keys are known), and the keys an UPDATE or DELETE
    touches are noted, to be read back (or found gone) when the transaction flushes."""
    cov = conn.info.get(TRACK)
    if cov is None or not isinstance(clause, Insert | Update | Delete):
        return clause, multiparams, params
    table = clause.table
    if not isinstance(table, Table) or table.name not in COVERED_TABLES:
        return clause, multiparams, params
    name, key_cols = table.name, COVERED_TABLES[table.name]
    if isinstance(clause, Insert):
        rows = list(multiparams) if multiparams else [dict(params)]
        embedded = not multiparams and not params
        if embedded:
            rows = [dict(clause.compile(dialect=conn.dialect).params)]
        auto = autoincrement(table)
        missing = [r for r in rows if auto is not None and r.get(auto) is None]
        if missing:
            ids = allocate_ids(conn, table, len(missing))
            for row, new_id in zip(missing, ids, strict=True):
                row[auto] = new_id
            if embedded:
                clause = clause.values({auto: ids[0]})
            elif multiparams:
                multiparams = rows
            else:
                params = rows[0]
        if any(any(c not in r for c in key_cols) for r in rows):
            raise DataError(
                f"a write to {name} must carry its key columns ({', '.join(key_cols)}) as "
                "parameters, one row per parameter set, for the audit chain to cover it"
            )
        upsert = getattr(clause, "_post_values_clause", None) is not None
        values = {tuple(r[c] for c in key_cols) for r in rows}
        # read back at flush only if it succeeds (see after_execute): one statement at a time
        conn.info[PENDING] = (clause, (name, key_cols, values, "u" if upsert else "i"))
        return clause, multiparams, params
    param_sets = list(multiparams) if multiparams else [dict(params)]
    if isinstance(clause, Update):
        compiled = clause.compile(dialect=conn.dialect, column_keys=list(param_sets[0]))
        if set(compiled.params) & set(key_cols):
            raise DataError(
                f"an UPDATE of {name} may not change its key ({', '.join(key_cols)}): "
                "the audit chain follows each row by its key"
            )
    keys = select(*[table.c[c] for c in key_cols])
    if clause.whereclause is not None:
        keys = keys.where(clause.whereclause)
    found: set[tuple] = set()
    for p in param_sets:
        found.update(tuple(r) for r in conn.execute(keys, p))
    cov.read_back(name, key_cols, found, "u")
    return clause, multiparams, params


def after_execute(
    conn: Connection, clause: Any, _multiparams: Any, _params: Any, _options: Any, _result: Any
) -> None:
    """A covered INSERT that succeeded: its rows are read back at flush. One that failed (a
    duplicate the caller catches) never gets here, and what it noted is dropped by the next
    statement, so it leaves nothing to cover."""
    pending = conn.info.pop(PENDING, None)
    cov = conn.info.get(TRACK)
    if pending is None or cov is None or pending[0] is not clause:
        return
    name, key_cols, values, op = pending[1]
    cov.read_back(name, key_cols, values, op)


# -- appending ------------------------------------------------------------------------------------


def lock_chain(conn: Connection) -> None:
    """Serialise appends among concurrent writers of one ledger.

    SQLite: the ledger's write transactions begin IMMEDIATE, so the caller holds the database's
    write lock already. PostgreSQL: a transaction-scoped advisory lock, so two sessions sharing
    the ledger never read the same tail (which would fail the later commit on the unique seq)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_AUDIT_LOCK})")


_TAIL = "SELECT seq, ts, session_id, kind, payload, prev_hash, hash FROM audit_log "


def tail(conn: Connection, full: bool = False) -> tuple[Any, ...] | None:
    """The chain's last entry: (seq, hash), or every field with `full`; None when empty."""
    sql = (_TAIL if full else "SELECT seq, hash FROM audit_log ") + "ORDER BY seq DESC LIMIT 1"
    if conn.dialect.name == "sqlite":
        return conn.connection.dbapi_connection.execute(sql).fetchone()  # type: ignore[union-attr]
    row = conn.exec_driver_sql(sql).first()
    return tuple(row) if row is not None else None


def chain_entries(
    key: AuditKey, seq: int, prev: str, events: Sequence[tuple[int, str | None, str, str]]
) -> list[dict[str, Any]]:
    """audit_log rows for `events` (ts, session id, kind, payload), chained after (seq, prev)."""
    out = []
    for ts, session_id, kind, payload in events:
        seq += 1
        digest = entry_hash(key, seq, ts, session_id, kind, payload, prev)
        out.append(
            dict(
                seq=seq,
                ts=ts,
                session_id=session_id,
                kind=kind,
                payload=payload,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    return out


_OPENING_SQL = (  # literal kinds: the partial index ix_audit_log_opening answers it
    "SELECT seq, payload FROM audit_log WHERE kind IN ('genesis', 'adopted') ORDER BY seq LIMIT 1"
)


def first_keyed(conn: Connection) -> tuple[int, dict[str, Any]] | None:
    """(seq, payload) of the entry that opened the keyed chain (genesis or adoption), as
    stored: `audit verify` checks it."""
    row = conn.exec_driver_sql(_OPENING_SQL).first()
    return (int(row[0]), orjson.loads(row[1])) if row is not None else None


__all__ = [
    "COVERED_TABLES",
    "EXEMPT_TABLES",
    "FIRST_KEYED",
    "GENESIS",
    "PENDING",
    "ROWS",
    "TRACK",
    "AuditKey",
    "Coverage",
    "after_execute",
    "allocate_ids",
    "autoincrement",
    "before_execute",
    "chain_entries",
    "entry_hash",
    "first_keyed",
    "key_of",
    "legacy_hash",
    "lock_chain",
    "parse_rows",
    "read_rows",
    "row_digest",
    "show_key",
    "tail",
]
