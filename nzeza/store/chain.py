"""One ledger's keyed chain at run time: appending a transaction's entries, moving the anchor
after each commit, and opening the keyed chain when the schema reaches version 4.

A transaction's entries are its audit events (kind and payload, as before) and, last, one
``rows`` entry with the digest of every covered row it wrote (`nzeza.store.audit`). The first
append of a `Ledger` checks the chain's last entry with the key, so a process holding another
key (or facing a tampered tail) refuses to extend the chain rather than forking it.

Opening the keyed chain (migration 4):
- a new ledger gets a ``genesis`` entry: its ledger id (which names its anchor file), the
  key's id, and the ledger it replaced at the same location, if any;
- an existing ledger's old chain (unkeyed SHA-256 over ``|``-joined text) is verified first —
  a broken one is refused, nothing is migrated — then an ``adopted`` entry records how many
  old entries there were and the last one's hash, followed by ``rows`` entries that record
  every row that exists (each as new). Rows written before schema 4 are therefore vouched for
  as they were at adoption, not as they were first written: the old chain never covered them.
Later migrations verify the chain and the rows before running and chain whatever they change
afterwards (a ``migrated`` entry and the rows' new digests).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from nzeza.errors import ConfigError, DataError
from nzeza.store import schema as s
from nzeza.store.audit import (
    COVERED_TABLES,
    GENESIS,
    ROWS,
    AuditKey,
    Coverage,
    chain_entries,
    entry_hash,
    first_keyed,
    key_of,
    lock_chain,
    row_digest,
    tail,
)
from nzeza.store.auditfiles import (
    Anchor,
    AnchorState,
    AuditSetup,
    audit_setup,
    location_of,
    previous_ledger,
    record_location,
)

ADOPT_CHUNK = 10_000  # rows per ``rows`` entry when a migration records existing rows


@dataclass
class Head:
    """The chain's head after a transaction's appends, and the (seq, hash) pairs it saw."""

    seq: int
    hash: str
    known: dict[int, str] = field(default_factory=dict)


class LedgerChain:
    """The keyed chain of one ledger, shared by the threads of one `Ledger`."""

    def __init__(self, engine: Engine, clock: Callable[[], int], setup: AuditSetup | None) -> None:
        self.engine, self.clock = engine, clock
        self.url = engine.url.render_as_string(hide_password=True)
        self._setup = setup
        self._key: AuditKey | None = None
        self._ledger_id: str | None = None
        self._anchor: Anchor | None = None
        self._checked = False
        self._lock = threading.Lock()
        self._scan: Any = None  # the chain as verified before a migration
        self._opened_at: str | None = None  # the location of a ledger whose chain just opened

    # -- key, id, anchor ------------------------------------------------------------------
    @property
    def setup(self) -> AuditSetup:
        if self._setup is None:
            self._setup = audit_setup()
        return self._setup

    def key(self, create: bool = True) -> AuditKey | None:
        if self._key is None:
            self._key = self.setup.key(create)
        return self._key

    def ledger_id(self, conn: Connection) -> str | None:
        if self._ledger_id is None:
            opening = first_keyed(conn)
            if opening is not None:
                self._ledger_id = str(opening[1].get("ledger_id") or "") or None
        return self._ledger_id

    def anchor(self) -> Anchor | None:
        """This ledger's anchor (None before its chain is keyed)."""
        if self._anchor is None:
            key = self.key()
            if self._ledger_id is None:
                with self.engine.connect() as conn:
                    self.ledger_id(conn)
            if key is None or self._ledger_id is None:
                return None
            self._anchor = self.setup.anchor(self._ledger_id, key)
        return self._anchor

    def anchor_state(self) -> AnchorState | None:
        """What the anchor says now (None without a key or a keyed chain to find it by)."""
        if self.key(create=False) is None:
            return None
        anchor = self.anchor()
        return anchor.read() if anchor is not None else None

    def lookup_hash(self, seq: int, writer: Connection | None) -> str | None:
        """The hash of committed entry `seq` (on `writer`, an idle SQLite connection, if given)."""
        sql = f"SELECT hash FROM audit_log WHERE seq = {int(seq)}"
        if writer is not None:
            row = writer.connection.dbapi_connection.execute(sql).fetchone()  # type: ignore[union-attr]
            return row[0] if row else None
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(sql).first()
            return row[0] if row else None

    # -- appending --------------------------------------------------------------------------
    def append(
        self,
        conn: Connection,
        events: Sequence[tuple[int, str | None, str, str]],
        coverage: Coverage | None,
        insert: Callable[[Connection, list[dict[str, Any]]], None],
    ) -> Head | None:
        """Chain `events` and, last, the rows `coverage` holds, inside `conn`'s transaction."""
        if not events and not coverage:
            return None
        key = self.key()
        assert key is not None  # key(create=True) makes one
        lock_chain(conn)
        last = tail(conn, full=not self._checked)
        if not self._checked:
            self._check_tail(conn, key, last)
        seq, prev = (int(last[0]), last[-1]) if last else (0, GENESIS)
        todo = list(events)
        if coverage:
            todo.append((self.clock(), None, ROWS, coverage.payload()))
        rows = chain_entries(key, seq, prev, todo)
        insert(conn, rows)
        known = {seq: prev} | {r["seq"]: r["hash"] for r in rows}
        return Head(rows[-1]["seq"], rows[-1]["hash"], known)

    def _check_tail(self, conn: Connection, key: AuditKey, last: tuple[Any, ...] | None) -> None:
        """Before this ledger object first extends the chain: the chain exists and its last
        entry verifies with our key (else we would fork a chain nobody can verify)."""
        if last is None:
            if s.current_version(conn) >= s.KEYED_CHAIN:
                raise DataError(
                    "the ledger's audit chain is empty although the ledger was set up: its "
                    "entries were deleted; nothing is written (run `nzeza audit verify`)"
                )
        else:
            seq, ts, sid, kind, payload, prev, digest = last
            if entry_hash(key, seq, ts, sid, kind, payload, prev) != digest:
                raise ConfigError(
                    "NZEZA_AUDIT_KEY",
                    f"the ledger's last audit entry (seq {seq}) does not verify with this audit "
                    f"key (id {key.key_id}, from {key.source}); nothing is written",
                    "use the key this ledger was made with, or run `nzeza audit verify`",
                )
        self.ledger_id(conn)
        with self._lock:
            self._checked = True

    def close(self) -> None:
        if self._anchor is not None:
            self._anchor.close()

    def committed(self, head: Head | None, lookup: Callable[[int], str | None]) -> None:
        """After a commit: move the anchor to `head` if the anchored entry is still chained."""
        if head is None or self._ledger_id is None:
            return
        anchor = self.anchor()
        if anchor is None:
            return

        def still_chained(seq: int, digest: str) -> bool:
            have = head.known.get(seq)
            return (have if have is not None else lookup(seq)) == digest

        anchor.advance(head.seq, head.hash, still_chained)

    # -- opening the keyed chain (migrations) ----------------------------------------------------
    def before_migration(self, conn: Connection, before: set[int]) -> None:
        """Refuse to migrate a ledger whose chain (or, once keyed, rows) do not verify."""
        if not before:
            return
        from nzeza.store.verify import scan_chain, scan_tables

        key = self.key()
        scan = scan_chain(conn, key)
        keyed = s.KEYED_CHAIN in before
        expected = {name: dict(rows) for name, rows in scan.expected.items()}
        if keyed:
            scan_tables(conn, scan)  # consumes scan.expected
            if scan.opening is None:
                scan.problems.insert(0, _not_keyed())
        elif scan.opening is not None:  # a keyed chain in a ledger that says it predates one
            scan.problems.insert(0, _not_keyed(f"seq {scan.opening_seq}", _SCHEMA_EDITED))
        if scan.problems:
            shown = "; ".join(str(p) for p in scan.problems[:5])
            raise DataError(
                f"the ledger's audit chain does not verify ({shown}), so the ledger is not "
                f"upgraded to schema {s.LATEST}: nothing was changed; restore a backup"
            )
        scan.expected = expected
        self._scan = scan

    def after_migration(self, conn: Connection, before: set[int]) -> Head:
        """Open the keyed chain (a new ledger, or one from before schema 4), or chain the rows a
        later migration changed. Runs in the migration's transaction."""
        key = self.key()
        assert key is not None
        now = self.clock()
        if s.KEYED_CHAIN in before:
            return self._rechain(conn, key, now, before)
        last = tail(conn)
        seq, prev = (int(last[0]), last[1]) if last else (0, GENESIS)
        self._ledger_id = uuid.uuid4().hex
        location = location_of(self.url)
        replaces = previous_ledger(self.setup.directory, location)
        opening: dict[str, Any] = {
            "key_id": key.key_id,
            "ledger_id": self._ledger_id,
            "schema": s.LATEST,
        }
        if replaces and replaces != self._ledger_id:
            opening["replaces"] = replaces
        if not before:
            events = [(now, None, "genesis", _json(opening))]
        else:
            opening |= {
                "legacy_entries": seq,
                "legacy_head": prev,
                "from_schema": max(before),
            }
            events = [(now, None, "adopted", _json(opening))]
            events += [(now, None, ROWS, p) for p in _rows_payloads(conn, existing=None)]
        rows = chain_entries(key, seq, prev, events)
        _insert(conn, rows)
        self._opened_at = location or ""
        return Head(rows[-1]["seq"], rows[-1]["hash"])

    def migrated(self, head: Head, lookup: Callable[[int], str | None]) -> None:
        """After the migration committed: a chain that just opened gets its first anchor (and
        its location is recorded); a chain that was extended moves its anchor."""
        if self._opened_at is None:
            self.committed(head, lookup)
            return
        anchor = self.anchor()
        assert anchor is not None and self._ledger_id is not None
        anchor.create(head.seq, head.hash)
        record_location(self.setup.directory, self._opened_at or None, self._ledger_id)
        self._opened_at = None

    def _rechain(self, conn: Connection, key: AuditKey, now: int, before: set[int]) -> Head:
        scan = self._scan
        last = tail(conn)
        seq, prev = (int(last[0]), last[1]) if last else (0, GENESIS)
        payloads = _rows_payloads(conn, existing=scan.expected)
        event = {
            "applied": sorted(set(s.applied_versions(conn)) - before),
            "row_entries": len(payloads),
        }
        events = [(now, None, "migrated", _json(event))]
        events += [(now, None, ROWS, p) for p in payloads]
        rows = chain_entries(key, seq, prev, events)
        _insert(conn, rows)
        self.ledger_id(conn)
        return Head(rows[-1]["seq"], rows[-1]["hash"], {seq: prev})


_SCHEMA_EDITED = (
    "the chain is keyed from this entry on, but schema_version says the ledger predates the "
    "keyed chain: schema_version was edited"
)


def _not_keyed(
    key: str = "(chain)", what: str = "no entry is keyed: the chain was rewritten"
) -> Any:
    from nzeza.store.verify import Problem

    return Problem("audit_log", key, what)


def _json(value: Any) -> str:
    from nzeza.store.statements import canonical_json

    return canonical_json(value)


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(s.audit_log.insert(), rows)


def _rows_payloads(
    conn: Connection, existing: Mapping[str, Mapping[Any, tuple[str | None, int]]] | None
) -> list[str]:
    """``rows`` payloads for every stored row (`existing` None: all as new) or for every row
    that differs from `existing` (what the chain held before a migration)."""
    from nzeza.store.verify import present_tables, table_rows

    out: list[str] = []
    cov, n = Coverage(), 0
    present = present_tables(conn)
    for name in COVERED_TABLES:
        if name not in present:
            continue
        before = dict(existing.get(name, {})) if existing is not None else None
        for row in table_rows(conn, name):
            k, digest = key_of(name, row), row_digest(row)
            if before is None:
                cov.put(name, k, "i", digest)
            else:
                had = before.pop(k, None)
                if had is not None and had[0] == digest:
                    continue
                cov.put(name, k, "i" if had is None or had[0] is None else "u", digest)
            n += 1
            if n % ADOPT_CHUNK == 0:
                out.append(cov.payload())
                cov = Coverage()
        for k, (digest, _seq) in (before or {}).items():
            if digest is not None:
                cov.put(name, k, "d", None)
    if cov:
        out.append(cov.payload())
    return out


__all__ = [
    "ADOPT_CHUNK",
    "Head",
    "LedgerChain",
]
