"""`audit verify`: recompute the keyed chain, every covered row and the anchor, streaming.

One pass over the chain checks each entry's HMAC and link and collects, from the verified
``rows`` entries, the digest every covered row must have now (a later entry for a key
supersedes an earlier one). One pass over each covered table then hashes every row and compares:
a row whose digest differs was edited (or swapped with another row: said so when its content
is another key's), a row the chain never recorded was inserted outside the ledger, a key the
chain recorded but the table lacks was deleted. The anchor outside the ledger catches what the
chain alone cannot: a truncated tail or a chain rebuilt from scratch.

Both passes read one consistent snapshot (SQLite: one read transaction; PostgreSQL:
REPEATABLE READ); the anchor is read before it, as it only ever moves after a commit. Memory
holds one digest per covered row (not the rows): a few hundred thousand rows take a few tens of
MB.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, column, inspect, select

from nzeza.store import schema as s
from nzeza.store.audit import (
    COVERED_TABLES,
    FIRST_KEYED,
    GENESIS,
    ROWS,
    AuditKey,
    entry_hash,
    legacy_hash,
    row_digest,
    show_key,
)
from nzeza.store.auditfiles import AnchorState

MAX_PROBLEMS = 50  # listed one by one; beyond that only counted


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (a table, ``audit_log`` or ``anchor``), which row, what."""

    where: str
    key: str
    what: str
    seq: int | None = None  # the chain entry concerned, if any

    def __str__(self) -> str:
        return f"{self.where} {self.key}: {self.what}"


@dataclass(frozen=True)
class AuditReport:
    """The result of verifying a ledger. `rows` counts chain entries (audit_log rows)."""

    ok: bool
    rows: int
    first_bad_seq: int | None = None
    reason: str = ""
    problems: tuple[Problem, ...] = ()
    more_problems: int = 0  # problems found beyond those listed
    covered_rows: int = 0  # table rows checked against the chain
    tables: int = 0
    anchor: str = ""  # what the anchor check found
    notes: tuple[str, ...] = ()
    key_id: str = ""
    seconds: float = 0.0
    # the promotion entries of the verified chain: by promotion id, and older ones without it
    promotion_events: dict[int, dict[str, Any]] = field(default_factory=dict)
    legacy_promotion_events: tuple[dict[str, Any], ...] = ()

    def __str__(self) -> str:
        if self.ok:
            head = (
                f"audit log intact: {self.rows} rows, hash chain verified with this key; "
                f"{self.covered_rows} rows in {self.tables} tables match the chain; {self.anchor}"
            )
        elif self.first_bad_seq is not None:
            head = f"audit log TAMPERED at seq {self.first_bad_seq}: {self.reason}"
        else:
            head = f"audit log TAMPERED: {self.reason}"
        lines = [head]
        if not self.ok:
            lines += [f"  - {p}" for p in self.problems]
            if self.more_problems:
                lines.append(f"  - ... and {self.more_problems} more")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def about(self, table: str, key: Any) -> list[Problem]:
        """The problems that name this row."""
        name = show_key(table, key)
        return [p for p in self.problems if p.where == table and p.key == name]


@dataclass
class ChainScan:
    """What one pass over the chain found."""

    key: AuditKey | None
    entries: int = 0
    head: tuple[int, str] = (0, GENESIS)
    problems: list[Problem] = field(default_factory=list)
    more: int = 0
    expected: dict[str, dict[Any, tuple[str | None, int]]] = field(default_factory=dict)
    opening: dict[str, Any] | None = None  # payload of the genesis / adoption entry
    opening_seq: int = 0
    claimed_key_id: str | None = None  # what the first genesis/adoption entry says, verified or not
    legacy: int = 0  # entries hashed the pre-schema-4 way, before the opening
    bad_entries: int = 0
    hashes_at: dict[int, str] = field(default_factory=dict)  # entries asked for by seq
    promotions: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> event payload
    legacy_promotions: list[dict[str, Any]] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more += 1


def _stream(conn: Connection, query: Any) -> Iterator[Any]:
    # a statement option: Connection.execution_options would change the connection itself
    return iter(conn.execute(query.execution_options(yield_per=2000)))


def scan_chain(
    conn: Connection, key: AuditKey | None, want_seqs: tuple[int, ...] = ()
) -> ChainScan:
    """Verify every entry (HMAC, link, order) and collect the digests rows must have."""
    scan = ChainScan(key)
    log = s.audit_log.c
    cols = (log.seq, log.ts, log.session_id, log.kind, log.payload, log.prev_hash, log.hash)
    prev, expected_seq, keyed = GENESIS, 1, False
    for seq, ts, sid, kind, payload, prev_hash, digest in _stream(
        conn, select(*cols).order_by(log.seq)
    ):
        scan.entries += 1
        if seq > expected_seq:
            gap = f"seq {expected_seq}" + (f"-{seq - 1}" if seq > expected_seq + 1 else "")
            scan.add(Problem("audit_log", gap, "missing: the entries were deleted", expected_seq))
        elif seq < expected_seq:
            scan.add(Problem("audit_log", f"seq {seq}", "out of order: an entry was inserted", seq))
        elif prev_hash != prev:
            scan.add(
                Problem(
                    "audit_log",
                    f"seq {seq}",
                    f"does not follow entry {seq - 1} (its prev_hash differs): an entry was "
                    "edited, inserted or reordered",
                    seq,
                )
            )
        if seq in want_seqs:
            scan.hashes_at[seq] = digest
        if kind in FIRST_KEYED and scan.claimed_key_id is None:
            scan.claimed_key_id = str(orjson.loads(payload).get("key_id", "")) or None
        mac = entry_hash(key, seq, ts, sid, kind, payload, prev_hash) if key else None
        if mac is not None and digest == mac:
            if not keyed:
                keyed = True
                _opening(scan, seq, kind, payload, prev_hash)
            _collect(scan, seq, kind, payload)
        elif not keyed and digest == legacy_hash(seq, ts, sid, kind, payload, prev_hash):
            scan.legacy += 1  # vouched for by the adoption entry, which records their head
            if kind == "promotion":
                _collect(scan, seq, kind, payload)
        else:
            scan.bad_entries += 1
            scan.add(
                Problem(
                    "audit_log",
                    f"seq {seq}",
                    f"{kind} entry does not match its hash: edited, or written without this key",
                    seq,
                )
            )
        prev, expected_seq = digest, seq + 1
    if scan.entries:
        scan.head = (expected_seq - 1, prev)
    return scan


def _opening(scan: ChainScan, seq: int, kind: str, payload: str, prev: str) -> None:
    scan.opening_seq = seq
    try:
        scan.opening = orjson.loads(payload)
    except orjson.JSONDecodeError:
        scan.opening = {}
    if kind not in FIRST_KEYED:
        scan.add(
            Problem(
                "audit_log",
                f"seq {seq}",
                f"the keyed chain opens with a {kind} entry, not its genesis or adoption: the "
                "entries before it were removed",
                seq,
            )
        )
    elif kind == "adopted" and (
        scan.opening.get("legacy_entries") != seq - 1 or scan.opening.get("legacy_head") != prev
    ):
        scan.add(
            Problem(
                "audit_log",
                f"seq 1-{seq - 1}",
                f"the entries before the adoption differ from those it adopted "
                f"({scan.opening.get('legacy_entries')} entries)",
                seq,
            )
        )


def _collect(scan: ChainScan, seq: int, kind: str, payload: str) -> None:
    if kind == "promotion":
        event = orjson.loads(payload)
        if "id" in event:
            scan.promotions[int(event["id"])] = event
        else:
            scan.legacy_promotions.append(event)
    if kind != ROWS:
        return
    for table, ops in orjson.loads(payload).items():
        exp = scan.expected.setdefault(table, {})
        for k, d in ops.get("i", ()):
            k = tuple(k) if isinstance(k, list) else k
            had = exp.get(k)
            if had is not None and had[0] is not None:
                scan.add(
                    Problem(
                        table,
                        show_key(table, k),
                        f"recorded as a new row by entry {seq} although entry {had[1]} had "
                        "recorded it already: the earlier row was deleted and its key reused",
                        seq,
                    )
                )
            exp[k] = (d, seq)
        for k, d in ops.get("u", ()):
            exp[tuple(k) if isinstance(k, list) else k] = (d, seq)
        for k in ops.get("d", ()):
            exp[tuple(k) if isinstance(k, list) else k] = (None, seq)


def _raw_rows(conn: Connection, name: str) -> tuple[list[str], Iterator[tuple]]:
    """The column names and every stored row (as the driver returns them) of a covered table,
    streamed: SQLite's own cursor, PostgreSQL's server-side one."""
    table = s.metadata.tables[name]
    # the columns the table has in this database: before a migration that adds one (verified
    # first, as written by the older code), the row is what that code wrote and digested
    stored = {c["name"] for c in inspect(conn).get_columns(name)}
    cols = [str(c.name) for c in table.columns if c.name in stored]
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        return cols, iter(raw.execute(f"SELECT {', '.join(cols)} FROM {name}"))  # type: ignore[union-attr]
    query: Any = select(*[column(c) for c in cols]).select_from(table)
    return cols, (tuple(r) for r in _stream(conn, query))


def table_rows(conn: Connection, name: str) -> Iterator[dict[str, Any]]:
    """Every stored row of a covered table, as the driver returns it."""
    cols, rows = _raw_rows(conn, name)
    for row in rows:
        yield dict(zip(cols, row, strict=True))


def present_tables(conn: Connection) -> set[str]:
    return {t for t in COVERED_TABLES if conn.dialect.has_table(conn, t)}


def scan_tables(conn: Connection, scan: ChainScan) -> tuple[int, int]:
    """Compare every covered row with the chain; returns (rows, tables) checked. Consumes
    `scan.expected` (each row's entry is dropped once its row is seen: memory for one copy)."""
    n_rows = n_tables = 0
    present = present_tables(conn)
    sha, dumps, sort = hashlib.sha256, orjson.dumps, orjson.OPT_SORT_KEYS
    for name, key_cols in COVERED_TABLES.items():
        exp = scan.expected.get(name, {})
        if name not in present:
            if any(d is not None for d, _ in exp.values()):
                scan.add(Problem(name, "(table)", "missing: the table was dropped"))
            continue
        n_tables += 1
        edited: list[tuple[Any, dict[str, Any], tuple[str | None, int]]] = []
        cols, rows = _raw_rows(conn, name)
        where = [cols.index(c) for c in key_cols]
        single = where[0] if len(where) == 1 else None
        for values in rows:
            n_rows += 1
            k = values[single] if single is not None else tuple(values[i] for i in where)
            want = exp.pop(k, None)
            row = dict(zip(cols, values, strict=True))
            try:  # = row_digest(row), inlined: the loop runs once per stored row
                digest = sha(dumps(row, option=sort)).hexdigest()[:32]
            except TypeError:
                digest = row_digest(row)
            if want is None or want[0] is None:
                why = (
                    "not in the audit chain: inserted outside the ledger"
                    if want is None
                    else f"deleted by entry {want[1]}, yet present: inserted outside the ledger"
                )
                scan.add(Problem(name, show_key(name, k), why))
            elif want[0] != digest:
                edited.append((k, row, want))
        gone = {k: v for k, v in exp.items() if v[0] is not None}
        _report_changes(scan, name, edited, gone)
    return n_rows, n_tables


def _report_changes(
    scan: ChainScan,
    name: str,
    edited: list[tuple[Any, dict[str, Any], tuple[str | None, int]]],
    gone: dict[Any, tuple[str | None, int]],
) -> None:
    """Edited and missing rows; a row whose content is another key's is named as swapped."""
    key_cols = COVERED_TABLES[name]
    expected = {k: want for k, _row, want in edited[:MAX_PROBLEMS]}
    expected |= dict(list(gone.items())[:MAX_PROBLEMS])
    moved: set[Any] = set()
    for k, row, (_digest, seq) in edited:
        origin = None
        for other in expected:
            if other == k:
                continue
            values = other if isinstance(other, tuple) else (other,)
            as_other = row | dict(zip(key_cols, values, strict=True))
            if expected[other][0] == row_digest(as_other):
                origin = other
                break
        if origin is not None:
            moved.add(origin)
            what = (
                f"holds the row recorded for {show_key(name, origin)} (entry "
                f"{expected[origin][1]}): rows were reordered (keys swapped)"
            )
        else:
            what = f"edited: its content differs from what audit entry {seq} recorded"
        scan.add(Problem(name, show_key(name, k), what, seq))
    for k, (_d, seq) in gone.items():
        if k in moved:
            continue
        scan.add(
            Problem(
                name, show_key(name, k), f"missing: recorded by audit entry {seq}, deleted", seq
            )
        )


def check_anchor(scan: ChainScan, anchor: AnchorState | None) -> str:
    """Compare the chain with its anchor; returns what to print about it."""
    if anchor is None:
        return "no anchor checked"
    where = str(anchor.path)
    if anchor.missing:
        scan.add(
            Problem(
                "anchor",
                where,
                "missing: nothing outside the ledger vouches for the chain's length, so a "
                "truncated or rebuilt chain cannot be ruled out; if the chain's head is right, "
                "`nzeza audit anchor` records it",
            )
        )
        return "anchor missing"
    if anchor.problem:
        scan.add(Problem("anchor", where, anchor.problem))
        return "anchor unusable"
    head_seq = scan.head[0]
    if head_seq < anchor.seq:
        scan.add(
            Problem(
                "audit_log",
                f"seq {head_seq + 1}-{anchor.seq}",
                f"missing: the anchor records {anchor.seq} entries, the chain has {head_seq}: "
                "the chain was truncated",
                head_seq + 1,
            )
        )
    elif scan.hashes_at.get(anchor.seq) != anchor.hash:
        scan.add(
            Problem(
                "audit_log",
                f"seq {anchor.seq}",
                "differs from the anchored head: the chain was rewritten",
                anchor.seq,
            )
        )
    return f"anchor at seq {anchor.seq} of {head_seq}"


def verify(conn: Connection, key: AuditKey | None, anchor: AnchorState | None) -> AuditReport:
    """Verify the ledger on `conn` (one snapshot) against `key` and `anchor`."""
    t0 = time.perf_counter()
    scan = scan_chain(conn, key, (anchor.seq,) if anchor is not None and anchor.usable else ())
    notes: list[str] = []
    if key is None:
        scan.problems.insert(
            0,
            Problem(
                "audit_log",
                "(key)",
                "no audit key: NZEZA_AUDIT_KEY is not set and there is no key file in "
                "NZEZA_AUDIT_DIR",
                1,
            ),
        )
    elif scan.entries and scan.opening is None and scan.legacy == scan.entries:
        scan.problems.insert(
            0,
            Problem(
                "audit_log",
                "(chain)",
                "no entry is keyed: the chain was rewritten without the key (or never adopted)",
                1,
            ),
        )
    elif scan.entries and scan.bad_entries == scan.entries - scan.legacy:
        named = scan.claimed_key_id
        scan.problems.insert(
            0,
            Problem(
                "audit_log",
                "(chain)",
                f"chain does not verify with this key (key id {key.key_id}"
                + (f"; the chain says it was made with key id {named}" if named else "")
                + "): the ledger was chained with another key, or rewritten without it",
                scan.legacy + 1,
            ),
        )
    elif scan.entries and scan.opening is None:
        scan.add(Problem("audit_log", "(chain)", "no entry is keyed: the chain was rewritten", 1))
    elif not scan.entries and s.KEYED_CHAIN in s.applied_versions(conn):
        scan.add(Problem("audit_log", "(chain)", "empty: every entry was deleted", 1))
    if anchor is not None and scan.opening is not None:
        named = scan.opening.get("ledger_id")
        if named != anchor.ledger_id:  # the anchor was found by an entry that is not verified
            scan.add(
                Problem(
                    "audit_log",
                    "(ledger id)",
                    f"the chain's verified opening names ledger {named}, but an earlier "
                    f"genesis/adoption entry named {anchor.ledger_id}: an entry was inserted",
                )
            )
    anchor_note = check_anchor(scan, anchor)
    rows, tables = scan_tables(conn, scan)
    replaced = (scan.opening or {}).get("replaces")
    if replaced:
        notes.append(f"this ledger replaced ledger {replaced} at the same location")
    problems = tuple(scan.problems)
    first = problems[0] if problems else None
    return AuditReport(
        ok=not problems,
        rows=scan.entries,
        first_bad_seq=next((p.seq for p in problems if p.seq is not None), None)
        if first is not None and first.where == "audit_log"
        else None,
        reason=str(first) if first is not None else "",
        problems=problems,
        more_problems=scan.more,
        covered_rows=rows,
        tables=tables,
        anchor=anchor_note,
        notes=tuple(notes),
        key_id=key.key_id if key else "",
        seconds=time.perf_counter() - t0,
        promotion_events=scan.promotions,
        legacy_promotion_events=tuple(scan.legacy_promotions),
    )


__all__ = [
    "MAX_PROBLEMS",
    "AuditReport",
    "ChainScan",
    "Problem",
    "check_anchor",
    "present_tables",
    "scan_chain",
    "scan_tables",
    "table_rows",
    "verify",
]
