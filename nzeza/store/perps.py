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
        check: dict[str, Any] | None = None,
    ) -> Callable[[PortfolioSnapshot], None]:
        """A `persist` callback for `Portfolio.apply_funding`: the funding row and the balances
        it produces, in one transaction (with its `funding_checks` row: `check`, the columns
        of a booking reconciled from the venue)."""

        def persist(nxt: PortfolioSnapshot) -> None:
            with self._held():
                self.record_funding(
                    session_id, instrument_id, ts, position, mark, rate, amount, nxt
                )
                if check is not None:
                    self.record_funding_check(session_id, instrument_id, ts, **check)

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

    def record_funding_check(
        self,
        session_id: str,
        instrument_id: str,
        ts: int,
        *,
        source: str,
        status: str,
        booked_amount: Decimal | None,
        venue_amount: Decimal | None,
        venue_ts: int | None,
    ) -> None:
        """What reconciling funding time `ts` with the venue found (`schema.funding_checks`):
        once per (session, instrument, time); a second check of the same time is refused."""
        row = dict(
            session_id=session_id,
            instrument_id=instrument_id,
            ts=int(ts),
            source=source,
            status=status,
            booked_amount=None if booked_amount is None else str(booked_amount),
            venue_amount=None if venue_amount is None else str(venue_amount),
            venue_ts=None if venue_ts is None else int(venue_ts),
            checked_ns=self.clock(),
        )
        try:
            with self._held() as buf:
                buf.insert(s.funding_checks, row)
        except DuplicateRow as exc:
            if exc.table != "funding_checks":
                raise
            raise DataError(
                f"funding of {instrument_id} at {ts} is already reconciled for {session_id}"
            ) from exc

    def funding_checks(self, session_id: str) -> list[dict[str, Any]]:
        """The session's funding reconciliation rows in the order they were made."""
        with self._read() as conn:
            rows = conn.execute(
                select(s.funding_checks)
                .where(s.funding_checks.c.session_id == session_id)
                .order_by(s.funding_checks.c.id)
            )
            out = []
            for r in rows:
                row = dict(r._mapping)
                for k in ("booked_amount", "venue_amount"):
                    row[k] = None if row[k] is None else Decimal(row[k])
                out.append(row)
            return out

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
