"""Perpetuals in the ledger: funding payments as their own entries, liquidations marking orders.

A funding payment is written with the balance it produces in one transaction (the same rule as
a fill and its positions), so cash in the ledger always includes every funding booked; one row
per (session, instrument, funding time): a restarted session cannot book a time twice. A
liquidation is an ordinary order and its fills (`orders`, `fills`) plus a `liquidations` row
naming the order's client id and the margin facts behind it. Both tables are on the keyed
audit chain.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from nzeza.domain import PortfolioSnapshot
from nzeza.errors import DataError
from nzeza.store import schema as s
from nzeza.store.transactions import LedgerCore
from nzeza.store.writebuffer import DuplicateRow


class PerpStore(LedgerCore):
    """Funding entries and liquidation marks."""

    def funding_writer(
        self,
        session_id: str,
        instrument_id: str,
        ts: int,
        position: Decimal,
        mark: Decimal,
        rate: Decimal,
        amount: Decimal,
    ) -> Callable[[PortfolioSnapshot], None]:
        """A `persist` callback for `Portfolio.apply_funding`: the funding row and the balances
        it produces, in one transaction."""

        def persist(nxt: PortfolioSnapshot) -> None:
            self.record_funding(session_id, instrument_id, ts, position, mark, rate, amount, nxt)

        return persist

    def record_funding(
        self,
        session_id: str,
        instrument_id: str,
        ts: int,
        position: Decimal,
        mark: Decimal,
        rate: Decimal,
        amount: Decimal,
        snapshot: PortfolioSnapshot,
    ) -> None:
        now = self.clock()
        row = dict(
            session_id=session_id,
            instrument_id=instrument_id,
            ts=int(ts),
            position=str(position),
            mark=str(mark),
            rate=str(rate),
            amount=str(amount),
            currency=snapshot.currency,
        )
        duplicate = f"funding of {instrument_id} at {ts} is already booked for {session_id}"
        try:
            with self._held() as buf:
                buf.insert(s.funding, row)
                for ccy, value in snapshot.balances.items():
                    buf.upsert(
                        s.balances,
                        {"session_id": session_id, "currency": ccy},
                        {"amount": str(value), "updated_ns": now},
                    )
        except DuplicateRow as exc:
            if exc.table != "funding":
                raise
            raise DataError(duplicate) from exc

    def funding_entries(self, session_id: str) -> list[dict[str, Any]]:
        """The session's funding payments in booking order, money as Decimal."""
        with self._read() as conn:
            rows = conn.execute(
                select(s.funding)
                .where(s.funding.c.session_id == session_id)
                .order_by(s.funding.c.id)
            )
            return [
                {
                    "instrument_id": r.instrument_id,
                    "ts": int(r.ts),
                    "position": Decimal(r.position),
                    "mark": Decimal(r.mark),
                    "rate": Decimal(r.rate),
                    "amount": Decimal(r.amount),
                    "currency": r.currency,
                }
                for r in rows
            ]

    def record_liquidation(
        self,
        session_id: str,
        venue: str,
        client_order_id: str,
        instrument_id: str,
        ts: int,
        position: Decimal,
        entry_price: Decimal,
        collateral: Decimal,
        maintenance_rate: Decimal,
        price: Decimal,
    ) -> None:
        """Mark the order `client_order_id` as a liquidation: its fills close the position
        (written before the order is sent, or with the batch its fill belongs to)."""
        row = dict(
            session_id=session_id,
            venue=venue,
            client_order_id=client_order_id,
            instrument_id=instrument_id,
            ts=int(ts),
            position=str(position),
            entry_price=str(entry_price),
            collateral=str(collateral),
            maintenance_rate=str(maintenance_rate),
            price=str(price),
        )
        with self._held() as buf:
            buf.insert(s.liquidations, row)

    def liquidations(self, session_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.liquidations)
                .where(s.liquidations.c.session_id == session_id)
                .order_by(s.liquidations.c.id)
            )
            return [dict(r._mapping) for r in rows]


__all__ = ["PerpStore"]
