"""Fills: one execution of (part of) an order at a venue."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nzeza.domain.enums import Side
from nzeza.domain.numbers import positive, to_decimal
from nzeza.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Fill:
    """A venue trade that filled part of an order.

    `trade_id` is the venue's id (unique per venue; the ledger and the portfolio de-duplicate
    on it). `fee` is in `fee_currency`, negative for a rebate (a maker fee below zero: the venue
    pays it); `ts` is UTC nanoseconds since the epoch. `liquidity` is "maker" (a resting order
    the market traded through), "taker" (it crossed) or None (not known: a venue's own fill
    that does not say, or a fill read back from the ledger, which keeps no such column).
    """

    trade_id: str
    order_id: str
    instrument_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    ts: int
    liquidity: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.trade_id, str) or not self.trade_id:
            raise ValidationError("trade_id", self.trade_id, "must be a non-empty string")
        try:
            object.__setattr__(self, "side", Side(self.side))
        except ValueError:
            raise ValidationError("side", self.side, "must be buy or sell") from None
        object.__setattr__(self, "quantity", positive(self.quantity, "quantity"))
        object.__setattr__(self, "price", positive(self.price, "price"))
        object.__setattr__(self, "fee", to_decimal(self.fee, "fee"))  # < 0: a maker rebate
        if not isinstance(self.ts, int) or self.ts < 0:
            raise ValidationError("ts", self.ts, "must be UTC nanoseconds (a non-negative int)")
        if self.liquidity not in (None, "maker", "taker"):
            raise ValidationError("liquidity", self.liquidity, "must be maker, taker or None")

    @property
    def signed_qty(self) -> Decimal:
        return self.quantity if self.side.value == "buy" else -self.quantity

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price

    def to_dict(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "instrument_id": self.instrument_id,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "fee": str(self.fee),
            "fee_currency": self.fee_currency,
            "ts": self.ts,
            **({} if self.liquidity is None else {"liquidity": self.liquidity}),
        }


__all__ = [
    "Fill",
]
