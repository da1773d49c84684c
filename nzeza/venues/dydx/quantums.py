"""dYdX v4 market units: sizes in quantums, prices in subticks, in exact integer arithmetic.

From the v4 clients (`Market.calculate_quantums` / `calculate_subticks`):

    quantums = size × 10^(−atomicResolution), rounded down to a multiple of stepBaseQuantums
    subticks = price × 10^(atomicResolution − quantumConversionExponent + 6),
               rounded down to a multiple of subticksPerTick   (6 = USDC's atomic resolution)

The clients do this in floats and then take max(result, one step), which both mis-rounds (in
floats 0.0003 × 1e10 = 2999999.9999999995, which floors to 2 steps of 1e6, not 3) and silently
enlarges a too-small order to one step. Here it is Decimal → int, and anything below one step
or one tick is a `ValidationError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from nzeza.domain.numbers import positive
from nzeza.errors import ValidationError

QUOTE_ATOMIC_RESOLUTION = -6  # USDC


@dataclass(frozen=True, slots=True)
class MarketParams:
    """A perpetual market's integer parameters, named as the indexer names them."""

    ticker: str
    clob_pair_id: int
    atomic_resolution: int
    quantum_conversion_exponent: int
    step_base_quantums: int
    subticks_per_tick: int

    @classmethod
    def from_indexer(cls, m: Mapping[str, Any]) -> MarketParams:
        """From an indexer `perpetualMarkets` entry (camelCase keys)."""
        try:
            return cls(
                str(m["ticker"]),
                int(m["clobPairId"]),
                int(m["atomicResolution"]),
                int(m["quantumConversionExponent"]),
                int(m["stepBaseQuantums"]),
                int(m["subticksPerTick"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(
                "perpetual_market", m.get("ticker"), f"bad field: {exc}"
            ) from None

    @property
    def step_size(self) -> Decimal:
        """Size of one step in base units."""
        return Decimal(self.step_base_quantums).scaleb(self.atomic_resolution)

    @property
    def tick_size(self) -> Decimal:
        """Price of one tick in USDC."""
        return Decimal(self.subticks_per_tick).scaleb(-self._price_exponent)

    @property
    def _price_exponent(self) -> int:
        return self.atomic_resolution - self.quantum_conversion_exponent - QUOTE_ATOMIC_RESOLUTION


def _floor_multiple(raw: Decimal, step: int) -> int:
    return int((raw / step).to_integral_value(rounding=ROUND_DOWN)) * step


def to_quantums(size: Any, market: MarketParams) -> int:
    """Base-unit `size` → quantums (a multiple of stepBaseQuantums, rounded down)."""
    raw = positive(size, "size").scaleb(-market.atomic_resolution)
    q = _floor_multiple(raw, market.step_base_quantums)
    if q < market.step_base_quantums:
        raise ValidationError(
            "size", size, f"is below one step ({market.step_size} {market.ticker})"
        )
    return q


def to_subticks(price: Any, market: MarketParams) -> int:
    """USDC `price` → subticks (a multiple of subticksPerTick, rounded down)."""
    raw = positive(price, "price").scaleb(market._price_exponent)
    s = _floor_multiple(raw, market.subticks_per_tick)
    if s < market.subticks_per_tick:
        raise ValidationError("price", price, f"is below one tick ({market.tick_size})")
    return s


def from_quantums(quantums: int, market: MarketParams) -> Decimal:
    return Decimal(quantums).scaleb(market.atomic_resolution)


def from_subticks(subticks: int, market: MarketParams) -> Decimal:
    return Decimal(subticks).scaleb(-market._price_exponent)


__all__ = [
    "QUOTE_ATOMIC_RESOLUTION",
    "MarketParams",
    "from_quantums",
    "from_subticks",
    "to_quantums",
    "to_subticks",
]
