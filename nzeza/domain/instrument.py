"""Instruments: what can be traded, and the grid its prices and quantities live on."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any

from nzeza.domain.numbers import ZERO, non_negative, positive, to_decimal
from nzeza.errors import ValidationError

ROUNDING_MODES = {ROUND_DOWN, ROUND_UP, ROUND_HALF_EVEN}


def _on_grid(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def _quantise(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    if rounding not in ROUNDING_MODES:
        raise ValidationError(
            "rounding", rounding, "must be ROUND_DOWN, ROUND_UP or ROUND_HALF_EVEN"
        )
    steps = (value / step).quantize(Decimal(1), rounding=rounding)
    # Express the result with the step's exponent so `str()` shows the venue's precision.
    return (steps * step).quantize(step)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable market on one venue, with its tick (price step) and lot (quantity step).

    `id` is `venue:symbol`, e.g. `binance:BTC/USDT`. Prices and quantities that enter an order
    are made through `make_price` / `make_qty` (which quantise with an explicit rounding mode)
    or checked with `check_price` / `check_qty` (which reject anything off the grid).
    """

    venue: str
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("venue", "symbol", "base", "quote"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(name, value, "must be a non-empty string")
        object.__setattr__(self, "tick_size", positive(self.tick_size, "tick_size"))
        object.__setattr__(self, "lot_size", positive(self.lot_size, "lot_size"))
        object.__setattr__(self, "min_qty", non_negative(self.min_qty, "min_qty"))
        object.__setattr__(self, "min_notional", non_negative(self.min_notional, "min_notional"))

    @property
    def id(self) -> str:
        return f"{self.venue}:{self.symbol}"

    @property
    def kind(self) -> str:
        """ "spot" here; `nzeza.domain.perpetual.Perpetual` says "perpetual"."""
        return "spot"

    # -- making values on the grid -------------------------------------------------------
    def make_price(self, value: Any, rounding: str = ROUND_HALF_EVEN) -> Decimal:
        """Quantise a price to the tick. Rejects non-finite and non-positive prices."""
        price = positive(value, "price")
        result = _quantise(price, self.tick_size, rounding)
        if result <= 0:
            raise ValidationError("price", value, f"rounds to zero on tick {self.tick_size}")
        return result

    def make_qty(self, value: Any, rounding: str = ROUND_DOWN) -> Decimal:
        """Quantise a quantity to the lot (down by default: never trade more than asked)."""
        qty = non_negative(value, "quantity")
        return _quantise(qty, self.lot_size, rounding)

    # -- checking values that must already be on the grid ---------------------------------
    def check_price(self, value: Any, field: str = "price") -> Decimal:
        price = positive(value, field)
        if not _on_grid(price, self.tick_size):
            raise ValidationError(field, value, f"is not a multiple of tick size {self.tick_size}")
        return price

    def check_qty(self, value: Any, field: str = "quantity") -> Decimal:
        qty = positive(value, field)
        if not _on_grid(qty, self.lot_size):
            raise ValidationError(field, value, f"is not a multiple of lot size {self.lot_size}")
        if qty < self.min_qty:
            raise ValidationError(field, value, f"is below the minimum quantity {self.min_qty}")
        return qty

    def check_notional(self, qty: Any, price: Any) -> Decimal:
        notional = to_decimal(qty, "quantity") * to_decimal(price, "price")
        if notional < self.min_notional:
            raise ValidationError(
                "notional", notional, f"is below the minimum notional {self.min_notional}"
            )
        return notional


__all__ = [
    "ROUNDING_MODES",
    "Instrument",
]
