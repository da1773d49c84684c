"""Stop-loss, take-profit and trailing stops, managed locally (for venues without native ones).

Sans-I/O: `arm(...)` when a position opens, `on_price(instrument_id, price)` on every trade or
bar; a trigger returns a reduce-only market intent closing the position and disarms that stop.
Levels are fractions of the entry price (0.02 = 2 %) or, for the trailing stop, a multiple of
ATR (in price units, supplied by the caller with each price or at arm time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nzeza.domain import Side
from nzeza.domain.intent import OrderIntent
from nzeza.domain.numbers import to_decimal
from nzeza.errors import ValidationError


@dataclass(frozen=True, slots=True)
class StopSpec:
    """Which stops to keep on a position; None disables one. Fractions, or an ATR multiple."""

    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    trailing_pct: Decimal | None = None
    trailing_atr: Decimal | None = None  # distance = trailing_atr × ATR

    def __post_init__(self) -> None:
        for name in ("stop_loss", "take_profit", "trailing_pct", "trailing_atr"):
            value = getattr(self, name)
            if value is not None:
                d = to_decimal(value, name)
                if d <= 0 or (name != "trailing_atr" and d >= 1):
                    raise ValidationError(name, value, "must be a positive fraction below 1")
                object.__setattr__(self, name, d)
        if self.trailing_pct is not None and self.trailing_atr is not None:
            raise ValidationError("trailing_atr", self.trailing_atr, "give trailing_pct or ATR")


@dataclass
class _Armed:
    instrument_id: str
    quantity: Decimal  # signed position quantity
    entry: Decimal
    spec: StopSpec
    extreme: Decimal  # best price seen since entry (high for a long, low for a short)
    atr: Decimal | None = None
    levels: dict[str, Decimal] = field(default_factory=dict)


class StopManager:
    """The armed stops of every position, keyed by instrument id."""

    def __init__(self) -> None:
        self._armed: dict[str, _Armed] = {}

    def arm(
        self,
        instrument_id: str,
        quantity: Any,
        entry_price: Any,
        spec: StopSpec,
        atr: Any = None,
    ) -> None:
        """Arm `spec` on a position of signed `quantity` entered at `entry_price`."""
        qty = to_decimal(quantity, "quantity")
        if qty == 0:
            raise ValidationError("quantity", quantity, "cannot arm stops on a flat position")
        entry = to_decimal(entry_price, "entry_price")
        if spec.trailing_atr is not None and atr is None:
            raise ValidationError("atr", None, "is required for an ATR trailing stop")
        atr_d = to_decimal(atr, "atr") if atr is not None else None
        self._armed[instrument_id] = _Armed(instrument_id, qty, entry, spec, entry, atr_d)

    def disarm(self, instrument_id: str) -> None:
        self._armed.pop(instrument_id, None)

    def is_armed(self, instrument_id: str) -> bool:
        return instrument_id in self._armed

    def levels(self, instrument_id: str) -> dict[str, Decimal]:
        """The current trigger prices (for display and tests)."""
        a = self._armed.get(instrument_id)
        return dict(self._levels(a)) if a else {}

    def _levels(self, a: _Armed) -> dict[str, Decimal]:
        long = a.quantity > 0
        s = a.spec
        out: dict[str, Decimal] = {}
        if s.stop_loss is not None:
            out["stop_loss"] = a.entry * (1 - s.stop_loss if long else 1 + s.stop_loss)
        if s.take_profit is not None:
            out["take_profit"] = a.entry * (1 + s.take_profit if long else 1 - s.take_profit)
        dist = None
        if s.trailing_pct is not None:
            dist = a.extreme * s.trailing_pct
        elif s.trailing_atr is not None and a.atr is not None:
            dist = s.trailing_atr * a.atr
        if dist is not None:
            out["trailing_stop"] = a.extreme - dist if long else a.extreme + dist
        return out

    def on_price(self, instrument_id: str, price: Any, atr: Any = None) -> list[OrderIntent]:
        """Feed a price; returns the closing intent if a stop triggers (then disarmed)."""
        a = self._armed.get(instrument_id)
        if a is None:
            return []
        p = to_decimal(price, "price")
        if atr is not None:
            a.atr = to_decimal(atr, "atr")
        long = a.quantity > 0
        # Check before moving the extreme: a gap through the stop triggers at this price.
        for name, level in self._levels(a).items():
            hit = (
                (p >= level if long else p <= level)
                if name == "take_profit"
                else (p <= level if long else p >= level)
            )
            if hit:
                self.disarm(instrument_id)
                side = Side.SELL if long else Side.BUY
                return [
                    OrderIntent(instrument_id, side, abs(a.quantity), reduce_only=True, tag=name)
                ]
        a.extreme = max(a.extreme, p) if long else min(a.extreme, p)
        return []


__all__ = [
    "StopManager",
    "StopSpec",
]
