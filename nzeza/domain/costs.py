"""Trading costs, stated once and used by research (vectorbt) and the paper venue alike.

Fill convention (DESIGN principle 2): a target decided at a bar's close executes at the next
bar's open. A buy fills at open × (1 + slippage), a sell at open × (1 − slippage); the fee is
`fee` × traded notional (at the slipped price), paid in the quote currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from nzeza.domain.numbers import to_decimal
from nzeza.errors import ValidationError

P = TypeVar("P", float, Decimal)

_MAX_RATE = 0.1  # 10%: anything above is surely a unit mistake (bps or percent given as rate)


@dataclass(frozen=True, slots=True)
class Costs:
    """Proportional costs as fractions: `Costs(fee=0.001, slippage=0.0005)` = 10 bps + 5 bps."""

    fee: float = 0.001
    slippage: float = 0.0005

    def __post_init__(self) -> None:
        for name in ("fee", "slippage"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
                raise ValidationError(name, value, "must be a number (a fraction, 0.001 = 10 bps)")
            f = float(value)
            if not 0.0 <= f <= _MAX_RATE:
                raise ValidationError(
                    name, value, f"must be a fraction between 0 and {_MAX_RATE} (0.001 = 10 bps)"
                )
            object.__setattr__(self, name, f)

    def scaled(self, factor: float) -> Costs:
        """The same costs multiplied (cost-sensitivity checks use `scaled(2)`)."""
        return Costs(
            fee=min(self.fee * factor, _MAX_RATE), slippage=min(self.slippage * factor, _MAX_RATE)
        )

    @property
    def fee_dec(self) -> Decimal:
        return to_decimal(self.fee, "fee")

    @property
    def slippage_dec(self) -> Decimal:
        return to_decimal(self.slippage, "slippage")

    def fill_price(self, side: str, price: P) -> P:
        """The executed price of a `side` ("buy"/"sell") order at reference `price`."""
        sign = 1 if side == "buy" else -1
        if isinstance(price, Decimal):
            return price * (1 + sign * self.slippage_dec)
        return price * (1.0 + sign * self.slippage)

    def fee_for(self, notional: P) -> P:
        if isinstance(notional, Decimal):
            return abs(notional) * self.fee_dec
        return abs(notional) * self.fee


__all__ = [
    "Costs",
    "P",
]
