"""Perpetual futures: the instrument kind `perpetual`, its margin and its funding, in Decimal.

A perpetual is an `Instrument` (tick, lot, venue:symbol) with what a perp venue adds: contract
size, maximum leverage, initial and maintenance margin rates (optionally maintenance tiers as
venues publish them) and the funding interval. Sizes are in base units (contracts × contract
size), prices and money in the quote currency.

The model (isolated margin, one position per instrument; `docs/perpetuals.md`):

- funding at each funding time: payment = −size × mark × rate (credited to the account: a long
  pays a positive rate, a short receives it; the two sides of the same size sum to zero);
- collateral C of a position: the margin the account has put behind it (the wallet balance:
  cash spent and received, fees and funding, before unrealized PnL);
- equity at a mark M: C + q × (M − entry), q signed (long > 0, short < 0);
- maintenance margin at M: mmr × |q| × M − amount (the tier's rate and deduction; without tiers,
  amount = 0);
- margin ratio at M: equity / (|q| × M); the position is liquidated when it is at or below the
  maintenance rate (equity ≤ maintenance margin);
- liquidation price: the mark where equity = maintenance margin,
      C + q (P − E) = mmr |q| P − amount  ⇒  P = (q E − C − amount) / (q − mmr |q|)
  i.e. long  P = (q E − C − amount) / (q (1 − mmr)),
       short P = (C + |q| E + amount) / (|q| (1 + mmr)).
  A long whose P ≤ 0 cannot be liquidated (fully collateralised). No separate liquidation fee
  is modelled here: research and sessions close a liquidated position at P with the taker fee.

The pure functions accept floats or Decimals alike (one formula for research and sessions);
`Perpetual` holds Decimals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any, TypeVar

from nzeza.domain.instrument import Instrument
from nzeza.domain.numbers import ZERO, non_negative, positive, to_decimal
from nzeza.errors import ValidationError

N = TypeVar("N", float, Decimal)

NS_PER_HOUR = 3_600_000_000_000
# funding interval per venue, hours (Binance USDⓈ-M: every 8 h; dYdX v4 and Hyperliquid: hourly)
FUNDING_INTERVAL_HOURS: dict[str, int] = {"binance": 8, "dydx": 1, "hyperliquid": 1}


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One maintenance tier as venues publish it: up to `notional_cap` (quote currency) the
    maintenance margin is `rate` × notional − `amount` (Binance's "maintenance amount")."""

    notional_cap: Decimal
    rate: Decimal
    amount: Decimal = ZERO

    def __post_init__(self) -> None:
        object.__setattr__(self, "notional_cap", positive(self.notional_cap, "tier.notional_cap"))
        object.__setattr__(self, "rate", positive(self.rate, "tier.rate"))
        object.__setattr__(self, "amount", non_negative(self.amount, "tier.amount"))
        if self.rate >= 1:
            raise ValidationError("tier.rate", self.rate, "must be below 1")


def _tiers(value: Iterable[Any]) -> tuple[MarginTier, ...]:
    out = []
    for item in value:
        out.append(item if isinstance(item, MarginTier) else MarginTier(*item))
    for before, after in pairwise(out):
        if after.notional_cap <= before.notional_cap:
            raise ValidationError(
                "tiers", after.notional_cap, "notional caps must increase from tier to tier"
            )
        if after.rate < before.rate:
            raise ValidationError("tiers", after.rate, "maintenance rates must not decrease")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Perpetual(Instrument):
    """A perpetual futures market (instrument kind `perpetual`).

    `initial_margin_rate` defaults to 1 / `max_leverage`; `maintenance_margin_rate` must be
    below it; `tiers` (notional cap, maintenance rate, maintenance amount), if given, replace
    the flat maintenance rate (the last tier's cap bounds the position's notional);
    `funding_interval_hours` defaults to the venue's (binance 8, dydx 1, hyperliquid 1)."""

    contract_size: Decimal = Decimal(1)
    max_leverage: Decimal = Decimal(20)
    initial_margin_rate: Decimal | None = None
    maintenance_margin_rate: Decimal = Decimal("0.005")
    tiers: tuple[MarginTier, ...] = field(default=())
    funding_interval_hours: int | None = None

    def __post_init__(self) -> None:
        Instrument.__post_init__(self)
        set_ = object.__setattr__
        set_(self, "contract_size", positive(self.contract_size, "contract_size"))
        set_(self, "max_leverage", positive(self.max_leverage, "max_leverage"))
        imr = self.initial_margin_rate
        imr = 1 / self.max_leverage if imr is None else positive(imr, "initial_margin_rate")
        if imr > 1:
            raise ValidationError("initial_margin_rate", imr, "must be at most 1")
        if imr * self.max_leverage < 1:
            raise ValidationError(
                "initial_margin_rate",
                imr,
                f"is below 1 / max_leverage ({1 / self.max_leverage})",
            )
        set_(self, "initial_margin_rate", imr)
        mmr = positive(self.maintenance_margin_rate, "maintenance_margin_rate")
        if mmr >= imr:
            raise ValidationError(
                "maintenance_margin_rate", mmr, f"must be below the initial margin rate {imr}"
            )
        set_(self, "maintenance_margin_rate", mmr)
        tiers = _tiers(self.tiers)
        for tier in tiers:
            if tier.rate >= imr:
                raise ValidationError(
                    "tiers", tier.rate, f"a maintenance rate must be below the initial {imr}"
                )
        set_(self, "tiers", tiers)
        hours = self.funding_interval_hours
        if hours is None:
            hours = FUNDING_INTERVAL_HOURS.get(self.venue.split("-")[0].lower())
            if hours is None:
                raise ValidationError(
                    "funding_interval_hours",
                    None,
                    f"venue {self.venue!r} has no default; give one "
                    f"(known: {sorted(FUNDING_INTERVAL_HOURS)})",
                )
        if isinstance(hours, bool) or not isinstance(hours, int) or hours <= 0:
            raise ValidationError("funding_interval_hours", hours, "must be a positive integer")
        set_(self, "funding_interval_hours", hours)

    @classmethod
    def of(cls, inst: Instrument, **terms: Any) -> Perpetual:
        """`inst` (same venue, symbol, tick and lot: the same id) as a perpetual with `terms`
        (max_leverage, maintenance_margin_rate, funding_interval_hours, ...)."""
        return cls(
            inst.venue,
            inst.symbol,
            inst.base,
            inst.quote,
            inst.tick_size,
            inst.lot_size,
            inst.min_qty,
            inst.min_notional,
            **terms,
        )

    @property
    def kind(self) -> str:
        return "perpetual"

    @property
    def funding_interval_ns(self) -> int:
        assert self.funding_interval_hours is not None
        return self.funding_interval_hours * NS_PER_HOUR

    def check_leverage(self, leverage: Any) -> Decimal:
        """`leverage` as a Decimal in (0, max_leverage], or a typed error naming it."""
        value = to_decimal(leverage, "leverage")
        if value <= 0:
            raise ValidationError("leverage", leverage, "must be positive")
        if value > self.max_leverage:
            raise ValidationError(
                "leverage", leverage, f"is above the maximum leverage {self.max_leverage}"
            )
        return value

    def maintenance(self, notional: Any) -> tuple[Decimal, Decimal]:
        """(maintenance rate, maintenance amount) for a position of `notional` (quote)."""
        notional = abs(to_decimal(notional, "notional"))
        return maintenance_params(notional, self.maintenance_margin_rate, self.tiers)

    def maintenance_margin(self, size: Any, mark: Any) -> Decimal:
        """Maintenance margin of `size` (base units, signed) at `mark`, in quote currency."""
        notional = abs(to_decimal(size, "size")) * to_decimal(mark, "mark")
        rate, amount = self.maintenance(notional)
        return max(notional * rate - amount, ZERO)

    def initial_margin(self, size: Any, mark: Any, leverage: Any | None = None) -> Decimal:
        """Initial margin: |size| × mark / leverage (default leverage: 1 / initial rate)."""
        notional = abs(to_decimal(size, "size")) * to_decimal(mark, "mark")
        if leverage is None:
            assert self.initial_margin_rate is not None
            return notional * self.initial_margin_rate
        return notional / self.check_leverage(leverage)

    def liquidation_price(self, size: Any, entry: Any, collateral: Any) -> Decimal | None:
        """The mark at which a position of `size` entered at `entry` with `collateral` is
        liquidated (module docstring); None when flat or when a long cannot be liquidated."""
        return liquidation_price(
            to_decimal(size, "size"),
            to_decimal(entry, "entry"),
            to_decimal(collateral, "collateral"),
            self.maintenance_margin_rate,
            self.tiers,
        )


def maintenance_params(notional: N, rate: Any, tiers: tuple[MarginTier, ...] = ()) -> tuple:
    """(rate, amount) of the tier holding `notional`; the flat `rate` and 0 without tiers.
    A notional above the last cap gets the last tier."""
    if not tiers:
        return (rate, type(notional)(0))
    kind = type(notional)
    for tier in tiers:
        if notional <= kind(tier.notional_cap):
            return (kind(tier.rate), kind(tier.amount))
    last = tiers[-1]
    return (kind(last.rate), kind(last.amount))


def funding_payment(size: N, mark: N, rate: N) -> N:
    """What the account receives at a funding time: −size × mark × rate (quote currency).

    A long (size > 0) pays a positive rate (negative result), a short receives it."""
    return -size * mark * rate


def position_equity(size: N, entry: N, collateral: N, mark: N) -> N:
    """Collateral plus unrealized PnL at `mark`: C + q × (mark − entry)."""
    return collateral + size * (mark - entry)


def margin_ratio(size: N, entry: N, collateral: N, mark: N) -> N:
    """Equity / notional at `mark` (a fraction; the position is liquidated at or below the
    maintenance rate). Raises for a flat position (no notional to divide by)."""
    if size == 0:
        raise ValidationError("size", size, "a flat position has no margin ratio")
    return position_equity(size, entry, collateral, mark) / (abs(size) * mark)


def liquidation_price(
    size: N, entry: N, collateral: N, mmr: Any, tiers: tuple[MarginTier, ...] = ()
) -> N | None:
    """P = (q E − C − amount) / (q − mmr |q|): where equity equals maintenance margin.

    With tiers, the tier whose notional range holds |q| × P is used (tried from the lowest);
    None when flat, or for a long whose P ≤ 0 (it cannot be liquidated)."""
    if size == 0:
        return None
    kind = type(size)
    candidates: list[tuple[Any, Any, Any]] = []
    if tiers:
        low = kind(0)
        for tier in tiers:
            candidates.append((kind(tier.rate), kind(tier.amount), (low, kind(tier.notional_cap))))
            low = kind(tier.notional_cap)
    else:
        candidates.append((kind(mmr), kind(0), None))
    price = None
    for rate, amount, bounds in candidates:
        price = (size * entry - collateral - amount) / (size - rate * abs(size))
        if bounds is None:
            break
        notional = abs(size) * price
        if bounds[0] < notional <= bounds[1]:
            break
    if price is None or price <= 0:
        return None
    return price


__all__ = [
    "FUNDING_INTERVAL_HOURS",
    "NS_PER_HOUR",
    "MarginTier",
    "Perpetual",
    "funding_payment",
    "liquidation_price",
    "maintenance_params",
    "margin_ratio",
    "position_equity",
]
