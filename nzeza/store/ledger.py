"""The ledger: an ACID record of sessions, intents, orders, fills, positions and audit events.

SQLite with WAL is the embedded default (a file under `runs/`); PostgreSQL by URL for a shared
ledger. The session journals an intent *before* its order is sent (`journal_intent`), and writes
a fill together with the positions and balances it produces in one transaction
(`fill_writer` → `Portfolio.apply_fill(fill, persist=...)`), so a crash at any point restarts into
a state the ledger fully explains. Every row it writes is covered by the keyed audit chain
(`nzeza.store.audit`: what is hashed and chained; `chain`: appends, anchor, migration;
`verify`: `verify_audit`).
"""

from __future__ import annotations

from sqlalchemy.exc import DatabaseError, OperationalError

from nzeza.errors import ConfigError
from nzeza.store.auditing import AuditStore
from nzeza.store.perps import PerpStore
from nzeza.store.records import RecordStore
from nzeza.store.sessions import SessionStore
from nzeza.store.trading import TradingStore


class Ledger(SessionStore, TradingStore, PerpStore, RecordStore, AuditStore):
    """One ledger database. Safe to open many times; migrations run on open.

    Every write is covered by the ledger's keyed audit chain (`nzeza.store.audit`): `audit`
    (settings' `NZEZA_AUDIT_KEY` / `NZEZA_AUDIT_DIR` when None) says where its key and anchor
    are; they are read on first need, so reading a ledger needs neither.

    The methods live with their aggregate: `transactions` (plumbing), `sessions` (sessions,
    intents, client ids), `trading` (orders, fills, positions, balances), `perps` (funding
    entries, liquidation marks), `records` (equity,
    risk events, promotions), `auditing` (the chain)."""


def open_ledger(url: str | None = None) -> Ledger:
    """Open the configured ledger (settings' `effective_ledger_url` when `url` is None)."""
    if url is None:
        from nzeza.ops.settings import load_settings

        url = load_settings(require_live=False).effective_ledger_url
    try:
        return Ledger(url)
    except OperationalError as exc:
        raise ConfigError(
            "NZEZA_LEDGER_URL",
            f"cannot open the ledger: {exc.orig}",
            "check the path is writable or the server is running",
        ) from None
    except DatabaseError as exc:  # e.g. sqlite "file is not a database": a corrupted file
        from nzeza.secrets import mask_url

        raise ConfigError(
            "NZEZA_LEDGER_URL",
            f"the ledger at {mask_url(url)} is not a readable database ({exc.orig})",
            "restore it from a backup, or point --ledger / NZEZA_LEDGER_URL at another ledger",
        ) from None


__all__ = ["Ledger", "open_ledger"]
