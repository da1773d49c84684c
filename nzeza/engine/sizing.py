"""Target exposure → order quantity, in Decimal: the research sizing rule, for sessions.

This is the rule `nzeza.research.backtest` runs on vectorbt (target percent of equity, valued at
the execution price), restated in exact arithmetic for orders that go to a venue:

- equity  = cash + position × price            (price: the reference price of execution, the
                                                next bar's open in replay, un-slipped)
- wanted  = target × equity / price            (signed quantity; −1 … 1 of equity)
- delta   = wanted − position                  (> 0 buy, < 0 sell)
- a buy executes at price × (1 + slippage) and pays fee × notional; if cash cannot pay
  delta × buy price × (1 + fee), the buy shrinks to cash / (buy price × (1 + fee)) — so an
  all-in long from cash buys qty = cash / (price × (1 + slippage) × (1 + fee));
- a sell (closing a long and/or opening a short) is not cash-limited;
- nothing is traded when cash ≤ 0 for a buy, or when the delta rounds to zero on the lot grid.

Optional volatility targeting (`VolTargeting`) scales the strategy's target before this rule;
it is off unless a session or replay is given one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from nzeza.domain import Costs
from nzeza.domain.numbers import ZERO

# vectorbt compares with a relative tolerance before shrinking a buy; keep the same tolerance
# so that an order it treats as affordable is affordable here too.
_REL_TOL = Decimal("1e-9")


@dataclass(frozen=True, slots=True)
class SizedOrder:
    side: str  # "buy" | "sell"
    quantity: Decimal  # > 0
    reference_price: Decimal


def size_target(
    target: Decimal,
    position: Decimal,
    cash: Decimal,
    price: Decimal,
    costs: Costs,
    lot_size: Decimal | None = None,
    *,
    fill_price: Decimal | None = None,
    fee_rate: Decimal | None = None,
    leverage: Decimal = Decimal(1),
) -> SizedOrder | None:
    """The order that moves `position` to `target` × `leverage` × equity at `price`, or None.

    A limit, post-only or stop fill (`nzeza.research.orders`) gives its own execution price
    and fee rate (maker or taker) for the cash limit of a buy; by default a buy executes at
    price × (1 + slippage) and pays the taker fee. With leverage (a perpetual,
    `nzeza.research.perp`), a buy is limited by the buying power cash + (leverage − 1) × equity
    instead of cash; at leverage 1 the two are the same."""
    if price <= 0:
        return None
    equity = cash + position * price
    if equity <= 0:
        return None
    power = cash if leverage == 1 else cash + (leverage - 1) * equity
    delta = target * leverage * equity / price - position
    if delta > 0:
        buy_price = price * (1 + costs.slippage_dec) if fill_price is None else fill_price
        fee = costs.fee_dec if fee_rate is None else fee_rate
        needed = delta * buy_price * (1 + fee)
        if needed > power and (needed - power) > _REL_TOL * max(abs(needed), abs(power)):
            if power <= 0:
                return None
            delta = power / (1 + fee) / buy_price
        side, qty = "buy", delta
    elif delta < 0:
        side, qty = "sell", -delta
    else:
        return None
    if lot_size is not None:
        qty = (qty / lot_size).to_integral_value(rounding=ROUND_DOWN) * lot_size
    if qty <= ZERO:
        return None
    return SizedOrder(side, qty, price)


@dataclass(frozen=True, slots=True)
class VolTargeting:
    """Optional volatility targeting on top of the strategy's target (off unless configured).

    At each closed bar the target is scaled by `target_vol / realized_vol`, capped at
    `max_leverage` and clipped to −1 … 1, where realized_vol is the sample standard deviation
    (ddof 1) of the last `lookback` log returns of the closes, annualised with
    `periods_per_year` (8760 for hourly bars). With fewer than `lookback + 1` closes, or a zero
    realized volatility, the scaled target is 0 (flat): no size without a volatility estimate.
    `step` rounds the scaled target to a grid (0.1 → tenths) so small volatility changes do not
    rebalance the position at every bar.
    """

    target_vol: float
    lookback: int = 168
    periods_per_year: float = 8760.0
    max_leverage: float = 1.0
    step: float | None = 0.1

    def __post_init__(self) -> None:
        from nzeza.errors import ValidationError

        if not (isinstance(self.target_vol, int | float) and 0 < self.target_vol <= 5):
            raise ValidationError("target_vol", self.target_vol, "must be in (0, 5] (annualised)")
        if not isinstance(self.lookback, int) or self.lookback < 2:
            raise ValidationError("vol_lookback", self.lookback, "must be an integer >= 2")
        if not (isinstance(self.periods_per_year, int | float) and self.periods_per_year > 0):
            raise ValidationError("periods_per_year", self.periods_per_year, "must be > 0")
        if not (isinstance(self.max_leverage, int | float) and 0 < self.max_leverage <= 1):
            raise ValidationError("max_leverage", self.max_leverage, "must be in (0, 1]")
        if self.step is not None and not 0 < self.step <= 1:
            raise ValidationError("step", self.step, "must be in (0, 1] or None")

    @property
    def bars_needed(self) -> int:
        return self.lookback + 1

    def scale(self, target: float, closes: Any) -> float:
        """The vol-targeted target for the bar whose close is the last of `closes`."""
        import math

        import numpy as np

        c = np.asarray(closes, dtype=np.float64)
        if target == 0 or len(c) < self.bars_needed:
            return 0.0
        r = np.diff(np.log(c[-self.bars_needed :]))
        vol = float(r.std(ddof=1)) * math.sqrt(self.periods_per_year)
        if not math.isfinite(vol) or vol <= 0:
            return 0.0
        scaled = target * min(self.max_leverage, self.target_vol / vol)
        if self.step:
            scaled = round(scaled / self.step) * self.step
        return max(-1.0, min(1.0, scaled))

    def scale_series(self, targets: Any, closes: Any) -> Any:
        """`scale` at every bar of a history (the research side of the same rule)."""
        import numpy as np
        import pandas as pd

        t = np.asarray(targets, dtype=np.float64)
        c = np.asarray(closes, dtype=np.float64)
        out = [self.scale(float(t[i]), c[: i + 1]) for i in range(len(t))]
        index = getattr(targets, "index", None)
        return pd.Series(out, index=index, dtype=float)


__all__ = [
    "SizedOrder",
    "VolTargeting",
    "size_target",
]
