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
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

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
) -> SizedOrder | None:
    """The order that moves `position` to `target` × equity at `price`, or None."""
    if price <= 0:
        return None
    equity = cash + position * price
    if equity <= 0:
        return None
    delta = target * equity / price - position
    if delta > 0:
        buy_price = price * (1 + costs.slippage_dec)
        needed = delta * buy_price * (1 + costs.fee_dec)
        if needed > cash and (needed - cash) > _REL_TOL * max(abs(needed), abs(cash)):
            if cash <= 0:
                return None
            delta = cash / (1 + costs.fee_dec) / buy_price
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
