"""Statements and hashing shared by the ledger and its write buffer.

Each INSERT/UPDATE statement object is built once per table, so SQLAlchemy compiles it once and
reuses the compiled form for every execution (and for `executemany`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from nzeza.store import schema as s

GENESIS = "0" * 64
AUDIT_TAIL = (
    select(s.audit_log.c.seq, s.audit_log.c.hash).order_by(s.audit_log.c.seq.desc()).limit(1)
)

_INSERTS: dict[str, Any] = {}
_UPDATES: dict[tuple[str, tuple[str, ...]], Any] = {}


def ins(table: Any) -> Any:
    """One INSERT statement object per table."""
    stmt = _INSERTS.get(table.name)
    if stmt is None:
        stmt = _INSERTS[table.name] = insert(table)
    return stmt


def upd(table: Any, keys: tuple[str, ...]) -> Any:
    """UPDATE ... WHERE key = :k_key, built once; the SET columns come from the params."""
    stmt = _UPDATES.get((table.name, keys))
    if stmt is None:
        cond = [table.c[k] == bindparam(f"k_{k}") for k in keys]
        stmt = _UPDATES[(table.name, keys)] = update(table).where(*cond)
    return stmt


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces; Decimals as strings) for hashing and storage."""
    return _CANONICAL.encode(value)


def audit_hash(
    seq: int, ts: int, session_id: str | None, kind: str, payload: str, prev: str
) -> str:
    text = f"{seq}|{ts}|{session_id or ''}|{kind}|{payload}|{prev}"
    return hashlib.sha256(text.encode()).hexdigest()


def audit_row(
    seq: int, ts: int, session_id: str | None, kind: str, payload: str, prev: str
) -> dict[str, Any]:
    """The audit_log row for one event chained to `prev`."""
    return dict(
        seq=seq,
        ts=ts,
        session_id=session_id,
        kind=kind,
        payload=payload,
        prev_hash=prev,
        hash=audit_hash(seq, ts, session_id, kind, payload, prev),
    )
