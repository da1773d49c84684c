"""Orders beyond market in bars: limit, post-only and stop orders, filled by one stated rule.

Research (`nzeza.research.backtest`) and replay (`nzeza.engine.replay`) both call
`bar_outcome` here, so the two fill the same orders at the same prices (docs/orders.md).

An `OrderPolicy` says how a changed target becomes an order: `kind` (market | limit |
post_only | stop), `offset` (a fraction of the deciding bar's close) and `ttl` (bars the order
lives). A strategy gives one as a class attribute `orders = OrderPolicy(...)`, or the caller
does (`backtest(..., orders=OrderPolicy("limit", 0.001, 2))`); the default is market, today's
rule exactly (the kernel, bit for bit vectorbt's).

Placement. A target decided at bar t's close that differs from the previous target becomes an
order placed for bar t+1. Its side is the sign of target × equity / close − position at that
close; its price is close × (1 − offset) for a buy limit or post-only and close × (1 + offset)
for a buy stop (mirrored for a sell). It lives bars t+1 … t+ttl; unfilled after the last, it is
cancelled (expired). A new decision replaces a working order (the old one is cancelled).

The bar rule (buy side; a sell mirrors every comparison, min ↔ max, low ↔ high):

- limit at L: if open ≤ L it fills at the open as a taker (the order crosses when it arrives):
  price min(open × (1 + slippage), L) — slippage applies, but never past the limit — taker fee;
  elif low ≤ L it fills inside the bar at L as a maker: no slippage, maker fee; else it waits.
  So a limit fills at min(L, open) (before slippage) whenever low ≤ L.
- post-only at L: never takes. On its first bar, if L ≥ open it would cross at placement and is
  refused (status rejected, no fill). Else it fills at L as a maker when low < L — strictly:
  a low equal to L only says that someone traded at L, not that the queue ahead of a new order
  at L was consumed; a trade through L is the evidence the paper venue asks for too. Else waits.
  A resting post-only order that a later bar gaps through (opens beyond L) fills at L: the
  first trade through it took it at its own price.
- stop at S: triggers when high ≥ S and fills at max(S, open) × (1 + slippage) as a taker (a
  gap through the stop fills at the open, never better than the stop).

Sizing is today's: at the fill the order moves the position to target × equity / R, where
equity = cash + position × R and R is the un-slipped reference (the open for a fill at the open,
L for a maker fill, max(S, open) for a stop); a buy that cash cannot pay shrinks to what
cash / (1 + fee rate) buys at the fill price. If the position is already at the target (or on
the other side of it from the order), the order is cancelled with nothing traded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from nzeza.domain.costs import MAKER, TAKER, Costs
from nzeza.errors import ValidationError

ORDER_KINDS = ("market", "limit", "post_only", "stop")
MAX_OFFSET = 0.5  # half the price away: anything further is a unit mistake
MAX_TTL = 100_000
FILL, REJECT, WAIT = "fill", "reject", "wait"


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    """How a changed target becomes an order: kind, price offset from the deciding close (a
    fraction, 0.001 = 10 bps) and time to live in bars (≥ 1)."""

    kind: str = "market"
    offset: float = 0.0
    ttl: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ORDER_KINDS:
            raise ValidationError(
                "order_type", self.kind, f"must be one of {', '.join(ORDER_KINDS)}"
            )
        try:
            off = float(self.offset) if not isinstance(self.offset, bool) else math.nan
        except (TypeError, ValueError):
            off = math.nan
        if not (math.isfinite(off) and 0.0 <= off <= MAX_OFFSET):
            raise ValidationError(
                "offset", self.offset, f"must be a fraction in [0, {MAX_OFFSET}] (0.001 = 10 bps)"
            )
        object.__setattr__(self, "offset", off)
        if isinstance(self.ttl, bool) or not isinstance(self.ttl, int | np.integer):
            raise ValidationError(
                "ttl", self.ttl, f"must be a whole number of bars in [1, {MAX_TTL}]"
            )
        if not 1 <= int(self.ttl) <= MAX_TTL:
            raise ValidationError(
                "ttl", self.ttl, f"must be a whole number of bars in [1, {MAX_TTL}]"
            )
        object.__setattr__(self, "ttl", int(self.ttl))

    @property
    def is_market(self) -> bool:
        return self.kind == "market"

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "offset": self.offset, "ttl": self.ttl}


MARKET = OrderPolicy()


def policy_of(strategy: Any, orders: OrderPolicy | None = None) -> OrderPolicy:
    """The policy a run uses: the caller's, else the strategy's `orders` attribute, else market."""
    chosen = orders if orders is not None else getattr(strategy, "orders", None)
    if chosen is None:
        return MARKET
    if not isinstance(chosen, OrderPolicy):
        raise ValidationError("orders", chosen, "must be an OrderPolicy")
    return chosen


class Outcome(NamedTuple):
    """What a bar does to a working order: `status` fill | reject | wait; for a fill the
    reference price (sizing), the execution price and the liquidity (maker | taker)."""

    status: str
    reference: Any = None
    price: Any = None
    liquidity: str = TAKER


_WAIT = Outcome(WAIT)
_REJECT = Outcome(REJECT)


def order_price(kind: str, side: str, close: Any, offset: Any) -> Any:
    """The limit or stop price of an order decided at `close` (float or Decimal alike)."""
    buy = side == "buy"
    away = buy if kind == "stop" else not buy  # stops sit beyond the close, limits inside it
    return close * (1 + offset) if away else close * (1 - offset)


def bar_outcome(
    kind: str,
    side: str,
    price: Any,
    open_: Any,
    high: Any,
    low: Any,
    first: bool,
    slippage: Any,
) -> Outcome:
    """The rule of the module docstring for one bar (float or Decimal; `first`: the order's
    first bar, where a post-only order that would cross is refused)."""
    buy = side == "buy"
    if kind == "limit":
        if open_ <= price if buy else open_ >= price:
            slipped = open_ * (1 + slippage) if buy else open_ * (1 - slippage)
            return Outcome(FILL, open_, min(slipped, price) if buy else max(slipped, price), TAKER)
        if low <= price if buy else high >= price:
            return Outcome(FILL, price, price, MAKER)
        return _WAIT
    if kind == "post_only":
        if first and (price >= open_ if buy else price <= open_):
            return _REJECT
        if low < price if buy else high > price:
            return Outcome(FILL, price, price, MAKER)
        return _WAIT
    if kind == "stop":
        if high >= price if buy else low <= price:
            ref = max(price, open_) if buy else min(price, open_)
            return Outcome(FILL, ref, ref * (1 + slippage) if buy else ref * (1 - slippage), TAKER)
        return _WAIT
    if kind == "market":
        slipped = open_ * (1 + slippage) if buy else open_ * (1 - slippage)
        return Outcome(FILL, open_, slipped, TAKER)
    raise ValidationError("order_type", kind, f"must be one of {', '.join(ORDER_KINDS)}")


ORDER_COLUMNS = [
    "decided_bar",
    "kind",
    "side",
    "price",
    "status",
    "bar",
    "fill_price",
    "size",
    "fee",
    "liquidity",
]


def simulate_orders(
    targets: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    costs: Costs,
    init_cash: float,
    policy: OrderPolicy,
) -> tuple[dict[str, list], list[dict[str, Any]]]:
    """Run `policy`'s orders over the bars (plain Python, one pass): the fills as the kernel
    writes them (bar, size, price, fees, side 0 buy / 1 sell, plus liquidity) and every order
    with its outcome (ORDER_COLUMNS; status filled | rejected | cancelled | expired)."""
    from nzeza.research.kernel import ABS_TOL, BUY, MIN_SIZE, SELL, add, is_close_or_less

    n = len(targets)
    change = np.empty(n)
    change[:1] = targets[:1]
    np.subtract(targets[1:], targets[:-1], out=change[1:])
    decided = ((change != 0) & ~np.isnan(targets)).tolist()
    tg, op, hi, lo, cl = (a.tolist() for a in (targets, open_, high, low, close))
    fills: dict[str, list] = {k: [] for k in ("bar", "size", "price", "fees", "side", "liquidity")}
    orders: list[dict[str, Any]] = []
    cash, pos = float(init_cash), 0.0
    work: dict[str, Any] | None = None
    slip = costs.slippage

    def close_order(status: str, bar: int) -> None:
        assert work is not None
        orders.append({**work["row"], "status": status, "bar": bar})

    for i in range(n):
        if work is not None and i > work["last"]:
            close_order("expired", work["last"])
            work = None
        if work is not None:
            row = work["row"]
            out = bar_outcome(
                row["kind"],
                row["side"],
                row["price"],
                op[i],
                hi[i],
                lo[i],
                i == work["first"],
                slip,
            )
            if out.status == REJECT:
                close_order("rejected", i)
                work = None
            elif out.status == FILL:
                ref, px, rate = out.reference, out.price, costs.rate(out.liquidity)
                value = cash + pos * ref if pos != 0 else cash
                want = work["target"] * value / ref - pos if value > 0 else 0.0
                buy = row["side"] == "buy"
                filled = fees = 0.0
                if buy and want > ABS_TOL and cash > 0:
                    req = want * px
                    req_fees = req * rate + 0.0
                    if is_close_or_less(req + req_fees, cash):
                        filled, fees, spent = want, req_fees, req + req_fees
                    else:  # cash-limited: spend all of it, fees included
                        max_req = add(cash, -0.0) / (1 + rate)
                        filled, fees, spent = max_req / px, cash - max_req, cash
                    if filled >= MIN_SIZE:
                        cash, pos = add(cash, -spent), add(pos, filled)
                elif not buy and -want > ABS_TOL:
                    filled = -want
                    acquired = filled * px
                    fees = acquired * rate + 0.0
                    if filled >= MIN_SIZE:
                        cash, pos = cash + add(acquired, -fees), add(pos, -filled)
                if filled >= MIN_SIZE:
                    for key, v in zip(
                        fills,
                        (i, filled, px, fees, BUY if buy else SELL, out.liquidity),
                        strict=True,
                    ):
                        fills[key].append(v)
                    orders.append(
                        {**row, "status": "filled", "bar": i, "fill_price": px, "size": filled,
                         "fee": fees, "liquidity": out.liquidity}
                    )  # fmt: skip
                else:
                    close_order("cancelled", i)  # nothing left to trade at the fill
                work = None
        if i + 1 < n and decided[i]:  # a changed target at this close: an order for bar i+1
            if work is not None:
                close_order("cancelled", i)  # replaced by the new decision
                work = None
            value = cash + pos * cl[i] if pos != 0 else cash
            want = tg[i] * value / cl[i] - pos if value > 0 else 0.0
            if abs(want) > ABS_TOL:
                side = "buy" if want > 0 else "sell"
                price = order_price(policy.kind, side, cl[i], policy.offset)
                row = {
                    "decided_bar": i, "kind": policy.kind, "side": side, "price": price,
                    "fill_price": math.nan, "size": 0.0, "fee": 0.0, "liquidity": None,
                }  # fmt: skip
                work = {"row": row, "target": tg[i], "first": i + 1, "last": i + policy.ttl}
    if work is not None:  # still working after the last bar, unless its life ended there
        orders.append(
            {**work["row"], "status": "expired" if work["last"] <= n - 1 else "open", "bar": n - 1}
        )
    return fills, orders


__all__ = [
    "FILL",
    "MARKET",
    "ORDER_COLUMNS",
    "ORDER_KINDS",
    "REJECT",
    "WAIT",
    "OrderPolicy",
    "Outcome",
    "bar_outcome",
    "order_price",
    "policy_of",
    "simulate_orders",
]
