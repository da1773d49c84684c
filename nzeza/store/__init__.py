"""The ledger: orders, fills, positions, promotions and the keyed audit chain over all of them
(SQLite or PostgreSQL)."""

from nzeza.store.ledger import Ledger, open_ledger
from nzeza.store.statements import canonical_json
from nzeza.store.verify import AuditReport

__all__ = ["AuditReport", "Ledger", "canonical_json", "open_ledger"]
