"""Positions: signed quantity, average entry, realized PnL and fees, in the quote currency.

A `Position` is immutable; `position.apply(fill)` returns the next one. Rules:

- adding on the same side moves the average entry to the quantity-weighted average;
- reducing realizes (fill price − average entry) × closed quantity × direction;
- a fill larger than the position closes it and opens the other side at the fill price;
- fees (in the quote currency) accumulate separately; `net_pnl` = realized + unrealized − fees.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from nzeza.domain.enums import PositionSide
from nzeza.domain.fill import Fill
from nzeza.domain.numbers import ZERO, to_decimal


@dataclass(frozen=True, slots=True)
class Position:
    instrument_id: str
    quantity: Decimal = ZERO  # signed: > 0 long, < 0 short
    avg_entry_price: Decimal = ZERO  # 0 when flat
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO  # quote-currency fees paid on this instrument

    @property
    def side(self) -> PositionSide:
        if self.quantity > 0:
            return PositionSide.LONG
        if self.quantity < 0:
            return PositionSide.SHORT
        return PositionSide.FLAT

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    def apply(self, fill: Fill, fee_in_quote: Decimal | None = None) -> Position:
        """The position after `fill`. `fee_in_quote` is the fee to book here (default fill.fee)."""
        q = fill.signed_qty
        p = fill.price
        fee = fill.fee if fee_in_quote is None else fee_in_quote
        qty, avg, realized = self.quantity, self.avg_entry_price, self.realized_pnl
        if qty == 0 or (qty > 0) == (q > 0):
            new_qty = qty + q
            avg = (abs(qty) * avg + abs(q) * p) / abs(new_qty)
            qty = new_qty
        else:
            closed = min(abs(q), abs(qty))
            direction = 1 if qty > 0 else -1
            realized += closed * (p - avg) * direction
            new_qty = qty + q
            if new_qty == 0:
                avg = ZERO
            elif (new_qty > 0) != (qty > 0):  # flipped: the rest opens at the fill price
                avg = p
            qty = new_qty
        return replace(
            self, quantity=qty, avg_entry_price=avg, realized_pnl=realized, fees=self.fees + fee
        )

    def unrealized_pnl(self, mark: Decimal | float | str) -> Decimal:
        if self.quantity == 0:
            return ZERO
        return self.quantity * (to_decimal(mark, "mark") - self.avg_entry_price)

    def market_value(self, mark: Decimal | float | str) -> Decimal:
        return self.quantity * to_decimal(mark, "mark")

    def net_pnl(self, mark: Decimal | float | str) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl(mark) - self.fees


__all__ = [
    "Position",
]
