"""The ledger's audit methods: append an audit event, verify the chain, the anchor outside
the ledger, re-anchor after a reviewed change, read audit rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from nzeza.store import schema as s
from nzeza.store.transactions import LedgerCore
from nzeza.store.verify import AuditReport, verify


class AuditStore(LedgerCore):
    """The keyed audit chain as the ledger exposes it (`nzeza.store.audit`, `chain`, `verify`)."""

    # -- audit ----------------------------------------------------------------------------
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


__all__ = [
    "AuditStore",
]
