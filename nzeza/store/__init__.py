"""The ledger: orders, fills, positions, audit events, promotions (SQLite or PostgreSQL)."""

from nzeza.store.ledger import AuditReport, Ledger, canonical_json, open_ledger

__all__ = ["AuditReport", "Ledger", "canonical_json", "open_ledger"]
