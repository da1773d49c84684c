"""nzeza's kernel of the one fill rule (DESIGN principle 2), bit for bit vectorbt's.

It computes exactly what `vectorbt.Portfolio.from_orders(close, size=order_sizes(targets),
size_type="targetpercent", price=open, fees=fee, slippage=slippage, init_cash=cash)` followed by
`.value()` and `.trades` (exit trades) compute, with the same floating-point operations in the
same order, so equity and trades agree to the last bit (tests/research/test_kernel.py holds the
two equal on every shipped strategy on every bundled series). vectorbt stays the reference; this
is the engine because vectorbt's general simulator costs ~60–170 ns per bar and column (a
100-combination sweep: 0.9–1.0 s against 0.12 s here) and its import 3.5–5 s, where compiled
this costs ~10 ns per bar and column, and a single backtest imports nothing heavy.

Units: prices in quote currency per unit, sizes in base units, cash and fees in quote currency,
`fee` a fraction of traded notional, `slippage` a fraction of the price, targets a fraction of
equity in [−1, 1] (NaN = no decision).

The rule, as vectorbt applies it (nzeza.research.backtest states it for humans):
- a target decided at bar t's close is an order at bar t+1, and only when the target changed;
- the order moves the position to target × value / valuation price, where value = cash +
  position × valuation price and the valuation price is that bar's open (un-slipped);
- buys fill at open × (1 + slippage), sells at open × (1 − slippage); fee × notional at the fill
  price; a buy that cash cannot pay shrinks to what cash / (1 + fee) buys; sells are not limited;
  an order below 1e-8 units is rejected (vectorbt's default `min_size`);
- cash, position and value within 1e-12 of zero count as zero (vectorbt's `add_nb`/`is_close_nb`
  tolerances, relative 1e-9 and absolute 1e-12), at every bar;
- equity at a bar = cash + close × position, both rebuilt from the filled orders as vectorbt's
  `cash_flow_nb`/`cash_nb`/`assets_nb` rebuild them (close forward- then back-filled);
- exit trades: every reducing order closes a trade of its size at the position's average entry,
  with a pro-rated share of the entry fees; a flip closes and reopens; a position still open at
  the end is an open trade marked at the last close.

The functions are plain Python in the subset numba compiles. A single backtest runs them as
Python over its orders only (microseconds per order: a fresh process never imports numba, and
the first backtest of a notebook is not a compile-or-load of numba code); sweeps run
`compiled()` — the same functions under `numba.njit(cache=True)`, one pass per column over the
bars, loaded from numba's on-disk cache after the first run.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

REL_TOL = 1e-9  # vectorbt.utils.math_.rel_tol
ABS_TOL = 1e-12  # vectorbt.utils.math_.abs_tol
MIN_SIZE = 1e-8  # vectorbt's default portfolio min_size: smaller orders are rejected (base units)
BUY, SELL = 0, 1  # vectorbt OrderSide
LONG, SHORT = 0, 1  # vectorbt TradeDirection
OPEN, CLOSED = 0, 1  # vectorbt TradeStatus


# -- vectorbt's float tolerances (vectorbt.utils.math_) ------------------------------------


def is_close(a: float, b: float) -> bool:
    """vectorbt's `is_close_nb`: equal, or within 1e-9 relative / 1e-12 absolute; never for NaN
    or infinities (two equal infinities included)."""
    if a == b:
        return not math.isinf(a)
    diff = abs(a - b)
    return diff < math.inf and (diff <= ABS_TOL or diff <= REL_TOL * max(abs(a), abs(b)))


def is_close_or_less(a: float, b: float) -> bool:
    return a < b or is_close(a, b)


def is_less(a: float, b: float) -> bool:
    return a < b and not is_close(a, b)


def add(a: float, b: float) -> float:
    """vectorbt's `add_nb`: a + b, exactly 0.0 when the two (nearly) cancel."""
    # (adding or to zero are most calls: their branch of add_nb, written out)
    if b == 0:
        return 0.0 if abs(a) <= ABS_TOL else a + b
    if a == 0:
        return 0.0 if abs(b) <= ABS_TOL else a + b
    if (a > 0 and b > 0) or (a < 0 and b < 0):  # same sign
        total = a + b
        return 0.0 if abs(total) <= ABS_TOL else total
    if is_close(abs(a), abs(b)):  # opposite signs (or NaN)
        return 0.0
    return a + b


# -- the simulation, over the bars where an order is due -----------------------------------


def fill_orders(
    bars: Any,
    targets: Any,
    val_prices: Any,
    prices: Any,
    n_orders: int,
    fee: float,
    slippage: float,
    init_cash: float,
    out_bar: Any,
    out_size: Any,
    out_price: Any,
    out_fees: Any,
    out_side: Any,
) -> int:
    """Fill the due orders (bar index, target, valuation price, open) in bar order; write the
    filled ones (bar, size > 0, fill price, fees, side) and return how many were filled.

    vectorbt's `simulate_from_orders_nb` → `execute_order_nb` → `buy_nb` / `sell_nb` for
    size_type=targetpercent, direction=both, no fixed fees, min size 1e-8, no cash locking.
    Every bar rounds the state to zero within tolerance; between a fill at bar i−1 and the
    valuation at bar i no rounding has happened yet, which is why `last_fill` is tracked.
    """
    cash = init_cash
    pos = 0.0
    last_fill = -2
    m = 0
    for q in range(n_orders):
        i = bars[q]
        # every bar rounds the state to zero within tolerance (execute_order_nb's is_close_nb(x,
        # 0), i.e. abs(x) <= ABS_TOL); the valuation right after a fill sees it unrounded
        if last_fill != i - 1:
            if abs(cash) <= ABS_TOL:
                cash = 0.0
            if abs(pos) <= ABS_TOL:
                pos = 0.0
        vp = val_prices[q]
        value = cash
        if pos != 0:
            value = value + pos * vp
        if abs(cash) <= ABS_TOL:
            cash = 0.0
        if abs(pos) <= ABS_TOL:
            pos = 0.0
        if abs(vp) <= ABS_TOL:
            vp = 0.0
        if abs(value) <= ABS_TOL:
            value = 0.0
        size = targets[q]
        price = prices[q]
        # ignored (NaN size, price, value or valuation price) or rejected (no value): the
        # state stays as rounded
        if math.isnan(size) or math.isnan(price) or math.isnan(value) or value <= 0:
            continue
        if math.isnan(vp):
            continue
        order = size * value
        order = order / vp
        order = order - pos
        if order > 0:
            adj_price = price * (1 + slippage)
            if cash == 0:
                continue
            req_cash = order * adj_price
            req_fees = req_cash * fee + 0.0
            total = req_cash + req_fees
            if is_close_or_less(total, cash):
                filled = order
                fees_paid = req_fees
                spent = total
            else:  # cash-limited: spend all of it, fees included
                max_req = add(cash, -0.0) / (1 + fee)
                if max_req <= 0:
                    continue
                filled = max_req / adj_price
                fees_paid = cash - max_req
                spent = cash
            if order <= ABS_TOL or is_less(filled, MIN_SIZE):  # order > 0: is_close(order, 0)
                continue
            cash = add(cash, -spent)
            pos = add(pos, filled)
            side = BUY
        else:
            adj_price = price * (1 - slippage)
            filled = -order
            if filled <= ABS_TOL or is_less(filled, MIN_SIZE):  # filled >= 0: is_close(filled, 0)
                continue
            acquired = filled * adj_price
            fees_paid = acquired * fee + 0.0
            net = add(acquired, -fees_paid)
            if net < 0:
                continue
            cash = cash + net
            pos = add(pos, -filled)
            side = SELL
        out_bar[m] = i
        out_size[m] = filled
        out_price[m] = adj_price
        out_fees[m] = fees_paid
        out_side[m] = side
        m += 1
        last_fill = i
    return m


def value_at_orders(
    bars: Any,
    sizes: Any,
    prices: Any,
    fees: Any,
    sides: Any,
    m: int,
    init_cash: float,
    cash_at: Any,
    assets_at: Any,
    cash_after: Any,
    assets_after: Any,
) -> None:
    """Cash and position as vectorbt's `value()` rebuilds them from the filled orders: their
    values at each order's bar (`*_at`) and on the bars after it until the next order
    (`*_after`: the first `add(x, 0.0)` rounds, later ones do not change it). Before the first
    order they are `add(init_cash, 0.0)` and 0.0."""
    cash_carry = add(init_cash, 0.0)
    assets_carry = 0.0
    for k in range(m):
        i = bars[k]
        signed = sizes[k] if sides[k] == BUY else -sizes[k]
        flow = add(0.0, signed)
        cash_flow = add(0.0, -signed * prices[k] - fees[k])
        if k > 0 and bars[k - 1] == i - 1:
            prev_cash = cash_at[k - 1]
            prev_assets = assets_at[k - 1]
        else:
            prev_cash = cash_carry
            prev_assets = assets_carry
        cash_at[k] = add(prev_cash, cash_flow)
        assets_at[k] = add(prev_assets, flow)
        cash_carry = add(cash_at[k], 0.0)
        assets_carry = add(assets_at[k], 0.0)
        cash_after[k] = cash_carry
        assets_after[k] = assets_carry


def _trade(
    k: int,
    size: float,
    entry_bar: int,
    entry_price: float,
    entry_fees: float,
    exit_bar: int,
    exit_price: float,
    exit_fees: float,
    direction: int,
    status: int,
    o_size: Any,
    o_entry_bar: Any,
    o_entry_price: Any,
    o_exit_bar: Any,
    o_exit_price: Any,
    o_fees: Any,
    o_pnl: Any,
    o_return: Any,
    o_direction: Any,
    o_status: Any,
) -> None:
    """One trade record, with vectorbt's `get_trade_stats_nb` pnl and return."""
    entry_val = size * entry_price
    exit_val = size * exit_price
    diff = add(exit_val, -entry_val)
    if diff != 0 and direction == SHORT:
        diff = diff * -1
    pnl = diff - entry_fees - exit_fees
    o_size[k] = size
    o_entry_bar[k] = entry_bar
    o_entry_price[k] = entry_price
    o_exit_bar[k] = exit_bar
    o_exit_price[k] = exit_price
    o_fees[k] = entry_fees + exit_fees
    o_pnl[k] = pnl
    o_return[k] = pnl / entry_val
    o_direction[k] = direction
    o_status[k] = status


def exit_trades(
    bars: Any,
    sizes: Any,
    prices: Any,
    fees: Any,
    sides: Any,
    m: int,
    last_bar: int,
    last_close: float,
    o_size: Any,
    o_entry_bar: Any,
    o_entry_price: Any,
    o_exit_bar: Any,
    o_exit_price: Any,
    o_fees: Any,
    o_pnl: Any,
    o_return: Any,
    o_direction: Any,
    o_status: Any,
) -> int:
    """vectorbt's `get_exit_trades_nb` for one column: write the trades (at most m + 1), return
    how many. Fees per trade are entry + exit fees."""
    t = 0
    in_position = False
    direction = LONG
    entry_bar = -1
    size_sum = 0.0
    gross_sum = 0.0
    fees_sum = 0.0
    for k in range(m):
        i = bars[k]
        size = sizes[k]
        price = prices[k]
        fee = fees[k]
        side = sides[k]
        if not in_position:
            in_position = True
            entry_bar = i
            direction = LONG if side == BUY else SHORT
            size_sum = 0.0
            gross_sum = 0.0
            fees_sum = 0.0
        if (direction == LONG and side == BUY) or (direction == SHORT and side == SELL):
            size_sum += size
            gross_sum += size * price
            fees_sum += fee
        elif is_close_or_less(size, size_sum):  # reduced or closed
            exit_size = size_sum if is_close(size, size_sum) else size
            entry_price = gross_sum / size_sum
            entry_fees = exit_size / size_sum * fees_sum
            _trade(
                t, exit_size, entry_bar, entry_price, entry_fees, i, price, fee, direction,
                CLOSED, o_size, o_entry_bar, o_entry_price, o_exit_bar, o_exit_price, o_fees,
                o_pnl, o_return, o_direction, o_status,
            )  # fmt: skip
            t += 1
            if is_close(size, size_sum):
                entry_bar = -1
                in_position = False
            else:
                fraction = (size_sum - size) / size_sum
                size_sum *= fraction
                gross_sum *= fraction
                fees_sum *= fraction
        else:  # reversed: close the trade, open the other side with the rest
            closed_size = size_sum
            closed_fees = closed_size / size * fee
            entry_price = gross_sum / size_sum
            entry_fees = closed_size / size_sum * fees_sum
            _trade(
                t, closed_size, entry_bar, entry_price, entry_fees, i, price, closed_fees,
                direction, CLOSED, o_size, o_entry_bar, o_entry_price, o_exit_bar, o_exit_price,
                o_fees, o_pnl, o_return, o_direction, o_status,
            )  # fmt: skip
            t += 1
            size_sum = size - closed_size
            gross_sum = size_sum * price
            fees_sum = fee - closed_fees
            entry_bar = i
            direction = SHORT if direction == LONG else LONG
    if in_position and is_less(-size_sum, 0.0):
        entry_price = gross_sum / size_sum
        entry_fees = size_sum / size_sum * fees_sum
        _trade(
            t, size_sum, entry_bar, entry_price, entry_fees, last_bar, last_close, 0.0,
            direction, OPEN, o_size, o_entry_bar, o_entry_price, o_exit_bar, o_exit_price, o_fees,
            o_pnl, o_return, o_direction, o_status,
        )  # fmt: skip
        t += 1
    return t


# -- sweeps: one pass per column over the bars (compiled) ----------------------------------


def simulate_block(
    targets: np.ndarray,
    open_: np.ndarray,
    close_filled: np.ndarray,
    close_last: float,
    fee: float,
    slippage: float,
    init_cash: float,
    returns: np.ndarray,
    final: np.ndarray,
    first: np.ndarray,
    max_dd: np.ndarray,
    closed: np.ndarray,
    held: np.ndarray,
    skew: np.ndarray,
    kurt: np.ndarray,
) -> None:
    """Backtest every row of `targets` (combinations × bars, C-contiguous: one combination's
    targets contiguous, and one compiled signature whatever the number of rows) with the rule
    above.

    Writes, per combination j: `returns[j]` = equity.pct_change() without its first bar (a row per
    combination, contiguous: pandas' own layout, so its reductions over it are the same sums),
    the first and final equity, the maximum drawdown (1 − equity / running peak, as a fraction),
    the number of closed trades, the number of bars held (target of the previous bar ≠ 0), and
    the bias-corrected skew and excess kurtosis of the returns (pandas' `skew`/`kurt`: NaN below
    3 / 4 returns or when they are constant).
    """
    k, n = targets.shape
    val_price = np.empty(n)
    last = math.nan
    for i in range(n):
        if not math.isnan(open_[i]):
            last = open_[i]
        val_price[i] = last
    o_bar = np.empty(n, np.int64)
    o_target = np.empty(n)
    o_vp = np.empty(n)
    o_price = np.empty(n)
    f_bar = np.empty(n, np.int64)
    f_size = np.empty(n)
    f_price = np.empty(n)
    f_fees = np.empty(n)
    f_side = np.empty(n, np.int64)
    cash_at = np.empty(n)
    assets_at = np.empty(n)
    cash_after = np.empty(n)
    assets_after = np.empty(n)
    t_size = np.empty(n + 1)
    t_entry_bar = np.empty(n + 1, np.int64)
    t_entry_price = np.empty(n + 1)
    t_exit_bar = np.empty(n + 1, np.int64)
    t_exit_price = np.empty(n + 1)
    t_fees = np.empty(n + 1)
    t_pnl = np.empty(n + 1)
    t_return = np.empty(n + 1)
    t_direction = np.empty(n + 1, np.int64)
    t_status = np.empty(n + 1, np.int64)
    for j in range(k):
        q = 0
        bars_held = 0
        for i in range(1, n):
            target = targets[j, i - 1]
            if target != 0 and not math.isnan(target):
                bars_held += 1
            change = target if i == 1 else target - targets[j, i - 2]
            if change != 0 and not math.isnan(target):
                o_bar[q] = i
                o_target[q] = target
                o_vp[q] = val_price[i]
                o_price[q] = open_[i]
                q += 1
        held[j] = bars_held
        m = fill_orders(
            o_bar, o_target, o_vp, o_price, q, fee, slippage, init_cash,
            f_bar, f_size, f_price, f_fees, f_side,
        )  # fmt: skip
        value_at_orders(
            f_bar, f_size, f_price, f_fees, f_side, m, init_cash,
            cash_at, assets_at, cash_after, assets_after,
        )  # fmt: skip
        n_trades = exit_trades(
            f_bar, f_size, f_price, f_fees, f_side, m, n - 1, close_last,
            t_size, t_entry_bar, t_entry_price, t_exit_bar, t_exit_price, t_fees, t_pnl,
            t_return, t_direction, t_status,
        )  # fmt: skip
        n_closed = 0
        for t in range(n_trades):
            if t_status[t] == CLOSED:
                n_closed += 1
        closed[j] = n_closed
        cash = add(init_cash, 0.0)
        assets = 0.0
        next_cash = cash
        next_assets = assets
        at = 0
        prev = math.nan
        peak = math.nan
        worst = math.nan
        for i in range(n):
            if at < m and f_bar[at] == i:
                cash = cash_at[at]
                assets = assets_at[at]
                next_cash = cash_after[at]
                next_assets = assets_after[at]
                at += 1
            else:
                cash = next_cash
                assets = next_assets
            equity = cash
            if assets != 0:
                equity = cash + close_filled[i] * assets
            if i == 0:
                first[j] = equity
            else:
                returns[j, i - 1] = equity / prev - 1
            prev = equity
            if not math.isnan(equity):
                if math.isnan(peak) or equity > peak:
                    peak = equity
                drawdown = 1 - equity / peak
                if math.isnan(worst) or drawdown > worst:
                    worst = drawdown
        final[j] = prev
        max_dd[j] = worst
        skew[j], kurt[j] = _moments(returns[j])


def _moments(x: np.ndarray) -> tuple[float, float]:
    """(skew, excess kurtosis) as pandas computes them (adjusted Fisher–Pearson, two passes)."""
    count = 0.0
    total = 0.0
    for v in x:
        if not math.isnan(v):
            total += v
            count += 1.0
    mean = total / count if count > 0 else math.nan
    m2 = m3 = m4 = 0.0
    for v in x:
        if not math.isnan(v):
            a = v - mean
            a2 = a * a
            m2 += a2
            m3 += a2 * a
            m4 += a2 * a2
    skew = math.nan
    kurt = math.nan
    if count >= 3 and m2 != 0:
        skew = (count * (count - 1) ** 0.5 / (count - 2)) * (m3 / m2**1.5)
    if count >= 4 and m2 != 0:
        kurt = count * (count + 1) * (count - 1) * m4 / ((count - 2) * (count - 3) * m2**2)
        kurt -= 3 * (count - 1) ** 2 / ((count - 2) * (count - 3))
    return skew, kurt


@lru_cache(maxsize=1)
def compiled() -> Any:
    """`simulate_block` and its callees under `numba.njit(cache=True)` (numba imported here,
    never at `import nzeza`). The cache lives beside this file, so any change to it recompiles."""
    from numba import njit
    from numba.extending import register_jitable

    for fn in (
        is_close,
        is_close_or_less,
        is_less,
        add,
        fill_orders,
        value_at_orders,
        _trade,
        exit_trades,
        _moments,
    ):
        register_jitable(fn)
    return njit(cache=True)(simulate_block)


__all__ = [
    "ABS_TOL",
    "MIN_SIZE",
    "REL_TOL",
    "add",
    "compiled",
    "exit_trades",
    "fill_orders",
    "is_close",
    "is_close_or_less",
    "is_less",
    "simulate_block",
    "value_at_orders",
]
