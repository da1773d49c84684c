"""Statements and canonical encodings shared by the ledger, its write buffer and the audit chain.

Each INSERT/UPDATE statement object is built once per table, so SQLAlchemy compiles it once and
reuses the compiled form for every execution (and for `executemany`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, update

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


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


_SORTED = orjson.OPT_SORT_KEYS


def canonical_bytes(value: Any) -> bytes:
    """The same canonical form as `canonical_json` (sorted keys, no spaces, Decimals as
    strings, bytes as hex), as UTF-8 bytes and encoded in C: what the audit chain hashes.
    Non-ASCII text is kept as UTF-8 rather than escaped; each form is canonical on its own."""
    return orjson.dumps(value, option=_SORTED, default=_default)


__all__ = [
    "canonical_bytes",
    "canonical_json",
    "ins",
    "upd",
]
