"""The ledger: orders, fills, positions, promotions and the keyed audit chain over all of them
(SQLite or PostgreSQL)."""

from nzeza.store.ledger import AuditReport, Ledger, canonical_json, open_ledger

__all__ = ["AuditReport", "Ledger", "canonical_json", "open_ledger"]
