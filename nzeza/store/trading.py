"""Orders, and fills written with the positions and balances they produce in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select

from nzeza.domain import Fill, Order, PortfolioSnapshot
from nzeza.errors import DataError
from nzeza.store import schema as s
from nzeza.store.statements import canonical_json
from nzeza.store.transactions import LedgerCore
from nzeza.store.writebuffer import DuplicateRow

_HAS_FILL = select(s.fills.c.id).where(
    s.fills.c.venue == bindparam("venue"), s.fills.c.trade_id == bindparam("trade_id")
)


class TradingStore(LedgerCore):
    """Orders, fills, positions and balances."""

    # -- orders ---------------------------------------------------------------------------
    def record_order(
        self,
        session_id: str,
        order: Order,
        event_name: str,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        """Upsert the order's current row and append the event that moved it (one transaction,
        or with the batch / fill it belongs to)."""
        now = self.clock()
        values = dict(
            session_id=session_id,
            instrument_id=order.instrument.id,
            side=order.side.value,
            order_type=order.type.value,
            quantity=str(order.quantity),
            price=None if order.price is None else str(order.price),
            status=order.status.value,
            filled_qty=str(order.filled_qty),
            avg_fill_price=None if order.avg_fill_price is None else str(order.avg_fill_price),
            venue_order_id=order.venue_order_id,
            reason=order.reason or None,
            updated_ns=now,
        )
        event = dict(
            client_order_id=order.client_order_id,
            session_id=session_id,
            event=event_name,
            payload=canonical_json(dict(payload or {})),
            ts=now,
        )
        with self._held() as buf:
            buf.upsert(s.orders, {"client_order_id": order.client_order_id}, values)
            buf.insert(s.order_events, event)

    def orders(self, session_id: str, open_only: bool = False) -> list[dict[str, Any]]:
        q = select(s.orders).where(s.orders.c.session_id == session_id)
        if open_only:
            q = q.where(s.orders.c.status.in_(["submitted", "accepted", "partially_filled"]))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(s.orders.c.updated_ns))]

    # -- fills, positions, balances: one transaction --------------------------------------
    def fill_writer(
        self, session_id: str, venue: str, fill: Fill, order: Order | None = None
    ) -> Callable[[PortfolioSnapshot], None]:
        """A `persist` callback for `Portfolio.apply_fill`: writes the fill, the position and
        balances it produces (and the order's new state) in one transaction."""

        def persist(nxt: PortfolioSnapshot) -> None:
            self.record_fill(session_id, venue, fill, nxt, order)

        return persist

    def record_fill(
        self,
        session_id: str,
        venue: str,
        fill: Fill,
        snapshot: PortfolioSnapshot,
        order: Order | None = None,
    ) -> None:
        now = self.clock()
        row = dict(
            session_id=session_id,
            venue=venue,
            trade_id=fill.trade_id,
            client_order_id=fill.order_id,
            instrument_id=fill.instrument_id,
            side=fill.side.value,
            quantity=str(fill.quantity),
            price=str(fill.price),
            fee=str(fill.fee),
            fee_currency=fill.fee_currency,
            ts=fill.ts,
        )
        pos = snapshot.position(fill.instrument_id)
        upserts: list[tuple[Any, dict[str, Any], dict[str, Any]]] = [
            (
                s.positions,
                {"session_id": session_id, "instrument_id": fill.instrument_id},
                {
                    "quantity": str(pos.quantity),
                    "avg_entry_price": str(pos.avg_entry_price),
                    "realized_pnl": str(pos.realized_pnl),
                    "fees": str(pos.fees),
                    "updated_ns": now,
                },
            )
        ]
        upserts += [
            (
                s.balances,
                {"session_id": session_id, "currency": ccy},
                {"amount": str(amount), "updated_ns": now},
            )
            for ccy, amount in snapshot.balances.items()
        ]
        duplicate = f"fill {fill.trade_id} from {venue} is already in the ledger"
        try:
            with self._held() as buf:
                if (venue, fill.trade_id) in buf.fill_keys:
                    raise DataError(duplicate)
                buf.fill_keys.add((venue, fill.trade_id))
                buf.insert(s.fills, row)
                for table, key, values in upserts:
                    buf.upsert(table, key, values)
                if order is not None:
                    self.record_order(session_id, order, "fill", {"trade_id": fill.trade_id})
        except DuplicateRow as exc:
            if exc.table != "fills":
                raise
            raise DataError(duplicate) from exc

    def has_fill(self, venue: str, trade_id: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(_HAS_FILL, {"venue": venue, "trade_id": trade_id}).first() is not None
            )

    def fills(self, session_id: str) -> list[Fill]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.fills).where(s.fills.c.session_id == session_id).order_by(s.fills.c.id)
            )
            return [
                Fill(
                    r.trade_id,
                    r.client_order_id,
                    r.instrument_id,
                    r.side,
                    Decimal(r.quantity),
                    Decimal(r.price),
                    Decimal(r.fee),
                    r.fee_currency,
                    int(r.ts),
                )
                for r in rows
            ]

    def positions(self, session_id: str) -> dict[str, dict[str, Decimal]]:
        with self._read() as conn:
            rows = conn.execute(select(s.positions).where(s.positions.c.session_id == session_id))
            return {
                r.instrument_id: {
                    k: Decimal(getattr(r, k))
                    for k in ("quantity", "avg_entry_price", "realized_pnl", "fees")
                }
                for r in rows
            }

    def balances(self, session_id: str) -> dict[str, Decimal]:
        with self._read() as conn:
            rows = conn.execute(select(s.balances).where(s.balances.c.session_id == session_id))
            return {r.currency: Decimal(r.amount) for r in rows}


__all__ = [
    "TradingStore",
]
