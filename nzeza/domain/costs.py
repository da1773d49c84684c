"""Trading costs, stated once and used by research (vectorbt) and the paper venue alike.

Fill convention (DESIGN principle 2): a target decided at a bar's close executes at the next
bar's open. A buy fills at open × (1 + slippage), a sell at open × (1 − slippage); the fee is
`fee` × traded notional (at the slipped price), paid in the quote currency.

Maker and taker: a fill that takes liquidity (a market order, a limit that crosses, a stop)
pays the taker rate (`taker`, the same number as `fee`) and the slippage; a fill of a resting
order (a limit or post-only order that the market trades through) pays the maker rate and no
slippage (it executes at its own limit). `Costs(fee, slippage)` — every caller before maker and
taker existed — means maker = taker = fee. The maker rate may be negative (a rebate, paid to
the trader) down to `MIN_MAKER` = −0.0005 (−5 bps: the deepest rebate of the large venues'
published schedules is about −1 to −3 bps; below −5 bps is surely a sign or unit mistake),
and may exceed the taker rate (a few venues price it so); the taker rate is 0 … 10 %.

Tiers: `tiers=((0, 0.001, 0.001), (1_000_000, 0.0008, 0.001), ...)` are (30-day volume in
quote, maker, taker), volumes strictly increasing from 0; `for_volume(v)` is the costs of the
highest tier whose volume is ≤ v. Without `for_volume` the top-level maker and taker apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from nzeza.domain.numbers import to_decimal
from nzeza.errors import ValidationError

P = TypeVar("P", float, Decimal)

_MAX_RATE = 0.1  # 10%: anything above is surely a unit mistake (bps or percent given as rate)
MIN_MAKER = -0.0005  # the deepest maker rebate accepted (−5 bps)
MAKER, TAKER = "maker", "taker"


def _rate(name: str, value: Any, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValidationError(name, value, "must be a number (a fraction, 0.001 = 10 bps)")
    try:
        f = float(value)
    except ValueError:
        raise ValidationError(
            name, value, "must be a number (a fraction, 0.001 = 10 bps)"
        ) from None
    if not (math.isfinite(f) and low <= f <= _MAX_RATE):
        raise ValidationError(
            name, value, f"must be a fraction between {low:g} and {_MAX_RATE} (0.001 = 10 bps)"
        )
    return f


@dataclass(frozen=True, slots=True, init=False)
class Costs:
    """Proportional costs as fractions: `Costs(fee=0.001, slippage=0.0005)` = 10 bps + 5 bps;
    `Costs(maker=0.0002, taker=0.0005, slippage=0.0005)` = a maker/taker schedule.

    `fee` is the taker rate (what a market order pays; every single-rate caller reads it)."""

    fee: float
    slippage: float
    maker: float
    tiers: tuple[tuple[float, float, float], ...]

    def __init__(
        self,
        fee: Any = None,
        slippage: Any = 0.0005,
        *,
        maker: Any = None,
        taker: Any = None,
        tiers: Any = (),
    ) -> None:
        if fee is not None and taker is not None and _rate("fee", fee) != _rate("taker", taker):
            raise ValidationError("taker", taker, f"contradicts fee={fee} (fee is the taker rate)")
        table = _tiers(tiers)
        if fee is not None:
            taker_f = _rate("fee", fee)
        elif taker is not None:
            taker_f = _rate("taker", taker)
        elif table and maker is None:  # tiers alone: the first tier's rates apply
            taker_f, maker = table[0][2], table[0][1]
        else:
            taker_f = 0.001
        maker_f = taker_f if maker is None else _rate("maker", maker, MIN_MAKER)
        object.__setattr__(self, "fee", taker_f)
        object.__setattr__(self, "slippage", _rate("slippage", slippage))
        object.__setattr__(self, "maker", maker_f)
        object.__setattr__(self, "tiers", table)

    @property
    def taker(self) -> float:
        return self.fee

    def rate(self, liquidity: str) -> float:
        """The fee rate of a `liquidity` ("maker"/"taker") fill."""
        if liquidity == MAKER:
            return self.maker
        if liquidity == TAKER:
            return self.fee
        raise ValidationError("liquidity", liquidity, "must be maker or taker")

    def for_volume(self, volume_30d: Any) -> Costs:
        """The costs of the tier that a 30-day traded volume (quote currency) reaches."""
        v = float(volume_30d) if not isinstance(volume_30d, bool) else math.nan
        if not (math.isfinite(v) and v >= 0):
            raise ValidationError("volume_30d", volume_30d, "must be a non-negative amount")
        if not self.tiers:
            return self
        chosen = [t for t in self.tiers if t[0] <= v][-1]
        return Costs(maker=chosen[1], taker=chosen[2], slippage=self.slippage, tiers=self.tiers)

    @classmethod
    def for_venue(cls, venue: Any, volume_30d: Any = 0, slippage: Any = 0.0005) -> Costs:
        """The costs of `venue`'s published schedule (`nzeza.domain.fees`) at the tier a
        window volume reaches (Hyperliquid: its 14-day volume). Only the tier's maker and
        taker rates are kept, not the table: a record states the rates that applied, and a
        schedule updated later does not change the key of earlier trials or bindings. An
        unknown venue, or a volume the schedule cannot confirm, is a `ValidationError`."""
        from nzeza.domain.fees import schedule

        _, maker, taker = schedule(venue).tier_for(volume_30d)
        return cls(maker=maker, taker=taker, slippage=slippage)

    def scaled(self, factor: float) -> Costs:
        """The same costs multiplied (cost-sensitivity checks use `scaled(2)`); a rebate
        scales towards zero, never deeper (stress means more costs, not more rebate). Tiers
        are not carried: the scaled top-level maker and taker rates apply."""
        fee = min(self.fee * factor, _MAX_RATE)
        slippage = min(self.slippage * factor, _MAX_RATE)
        if self.maker == self.fee and not self.tiers:
            return Costs(fee=fee, slippage=slippage)
        maker = min(self.maker * factor, _MAX_RATE) if self.maker >= 0 else self.maker / factor
        return Costs(maker=maker, taker=fee, slippage=slippage)

    @property
    def single_rate(self) -> bool:
        """True when maker = taker and no tiers (the costs every record before them held)."""
        return self.maker == self.fee and not self.tiers

    def record(self) -> dict[str, Any]:
        """The costs as plain values for records and hashes: {fee, slippage} as before maker
        and taker existed, plus `maker` and `tiers` only when they say something more (so every
        record and promotion written earlier still reads and verifies the same)."""
        out: dict[str, Any] = {"fee": float(self.fee), "slippage": float(self.slippage)}
        if self.maker != self.fee:
            out["maker"] = float(self.maker)
        if self.tiers:
            out["tiers"] = [list(t) for t in self.tiers]
        return out

    @classmethod
    def from_record(cls, rec: Any) -> Costs:
        """The inverse of `record` (a missing maker = the fee)."""
        return cls(
            rec.get("fee", 0.001),
            rec.get("slippage", 0.0005),
            maker=rec.get("maker"),
            tiers=tuple(tuple(t) for t in rec.get("tiers") or ()),
        )

    @property
    def fee_dec(self) -> Decimal:
        return to_decimal(self.fee, "fee")

    @property
    def maker_dec(self) -> Decimal:
        return to_decimal(self.maker, "maker")

    @property
    def slippage_dec(self) -> Decimal:
        return to_decimal(self.slippage, "slippage")

    def fill_price(self, side: str, price: P) -> P:
        """The executed price of a `side` ("buy"/"sell") taker order at reference `price`."""
        sign = 1 if side == "buy" else -1
        if isinstance(price, Decimal):
            return price * (1 + sign * self.slippage_dec)
        return price * (1.0 + sign * self.slippage)

    def fee_for(self, notional: P, liquidity: str = TAKER) -> P:
        """The fee of a fill of `notional` (quote) as `liquidity`; negative = a maker rebate."""
        if liquidity == MAKER:
            if isinstance(notional, Decimal):
                return abs(notional) * self.maker_dec
            return abs(notional) * self.maker
        if liquidity != TAKER:
            raise ValidationError("liquidity", liquidity, "must be maker or taker")
        if isinstance(notional, Decimal):
            return abs(notional) * self.fee_dec
        return abs(notional) * self.fee


def _tiers(tiers: Any) -> tuple[tuple[float, float, float], ...]:
    try:
        rows = [tuple(t) for t in (tiers or ())]
    except TypeError:
        raise ValidationError("tiers", tiers, "must be (volume_30d, maker, taker) rows") from None
    out: list[tuple[float, float, float]] = []
    for row in rows:
        if len(row) != 3:
            raise ValidationError("tiers", row, "each tier is (volume_30d, maker, taker)")
        vol = _volume(row[0])
        if out and vol <= out[-1][0]:
            raise ValidationError("tiers", row, "volumes must be strictly increasing")
        if not out and vol != 0:
            raise ValidationError("tiers", row, "the first tier starts at volume 0")
        out.append((vol, _rate("maker", row[1], MIN_MAKER), _rate("taker", row[2])))
    return tuple(out)


def _volume(value: Any) -> float:
    try:
        v = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v >= 0):
        raise ValidationError("tiers", value, "a tier's volume must be a non-negative amount")
    return v


__all__ = [
    "MAKER",
    "MIN_MAKER",
    "TAKER",
    "Costs",
    "P",
]
