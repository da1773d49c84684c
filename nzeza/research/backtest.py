"""Backtests with the one fill convention (DESIGN principle 2), on nzeza's kernel of it.

Sizing rule (the engine's `nzeza.engine.sizing` states the same rule in Decimal):
- a target decided at bar t's close executes at bar t+1's open, and only when the target changed;
- the order moves the position to target × equity / price, where equity = cash + position ×
  price and price is that open (un-slipped): vectorbt's `targetpercent` valued at the order
  price;
- buys fill at open × (1 + slippage), sells at open × (1 − slippage); the fee is fee × traded
  notional at the fill price;
- a buy that cash cannot pay shrinks to cash / (buy price × (1 + fee)) — so an all-in long from
  cash buys qty = cash / (open × (1 + slippage) × (1 + fee)); sells (and shorts) are not
  cash-limited; fractional targets scale the same way.

`backtest` runs `nzeza.research.kernel` (vectorbt's `Portfolio.from_orders` for this rule,
reproduced bit for bit) as plain Python over the bars where an order is due, on numpy arrays:
no vectorbt import and no per-bar `Timestamp` objects, and the bars' UTC index is put back on
the results. `BacktestResult.portfolio` still gives the vectorbt Portfolio of the same run,
built on first access (vectorbt's import and simulation, ~4 s the first time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from nzeza.data.timeframe import freq_of
from nzeza.domain import Costs
from nzeza.errors import ValidationError

TRADE_COLUMNS = [
    "entry_time",
    "exit_time",
    "side",
    "entry_price",
    "exit_price",
    "size",
    "pnl",
    "fees",
    "return",
    "status",
]


def order_sizes(targets: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Targets at closes → vectorbt order sizes at the next bars' opens (NaN = no order)."""
    first = targets.iloc[:1]
    changed = targets.diff()
    changed.iloc[:1] = first  # the first bar "changes" from flat
    sizes = targets.where(changed != 0)
    return sizes.shift(1)


def run_portfolio(
    bars: pd.DataFrame, targets: pd.Series | pd.DataFrame, costs: Costs, init_cash: float
) -> Any:
    """The same backtest as a vectorbt Portfolio (the reference the kernel is tested against).

    Pass bars with a tz-naive (or integer) index for speed: vectorbt turns a tz-aware index into
    one `Timestamp` object per bar every time it wraps an array."""
    import vectorbt as vbt

    sizes = order_sizes(targets)
    close, open_ = bars["close"], bars["open"]
    if isinstance(sizes, pd.DataFrame):
        close = pd.DataFrame(
            np.repeat(close.to_numpy()[:, None], sizes.shape[1], axis=1),
            index=bars.index,
            columns=sizes.columns,
        )
        open_ = pd.DataFrame(
            np.repeat(open_.to_numpy()[:, None], sizes.shape[1], axis=1),
            index=bars.index,
            columns=sizes.columns,
        )
    return vbt.Portfolio.from_orders(
        close,
        size=sizes,
        size_type="targetpercent",
        price=open_,
        fees=costs.fee,
        slippage=costs.slippage,
        init_cash=init_cash,
        freq=freq_of(bars.index),
    )


def fills_portfolio(bars: pd.DataFrame, sim: Simulation, init_cash: float) -> Any:
    """A vectorbt Portfolio of given fills: each fill an order of its signed amount at its
    price with its own fee rate (maker or taker), no slippage on top (it is in the price)."""
    import vectorbt as vbt

    n = len(bars)
    size, price, fees = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    f = sim.fills
    bar = f["bar"].astype(np.int64)
    size[bar] = np.where(f["side"] == 0, f["size"], -f["size"])
    price[bar] = f["price"]
    fees[bar] = np.divide(f["fees"], f["size"] * f["price"])
    return vbt.Portfolio.from_orders(
        bars["close"],
        size=size,
        size_type="amount",
        price=price,
        fees=fees,
        init_cash=init_cash,
        freq=freq_of(bars.index),
    )


def ffill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN (leading NaN stay)."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    index = np.where(missing, 0, np.arange(len(values)))
    np.maximum.accumulate(index, out=index)
    return values[index]


def filled_close(close: np.ndarray) -> np.ndarray:
    """Close forward- then back-filled: what vectorbt values positions at."""
    out = ffill(close)
    return ffill(out[::-1])[::-1]


@dataclass(frozen=True)
class Simulation:
    """What the kernel computed for one backtest: equity per bar, the filled orders and the
    exit trades (bar positions, sizes in base units, prices and money in quote currency)."""

    equity: np.ndarray
    fills: dict[str, np.ndarray]
    trades: dict[str, np.ndarray]
    # every order and its outcome (`nzeza.research.orders.ORDER_COLUMNS`); None for market
    # orders, which always fill at the next open
    orders: list[dict[str, Any]] | None = None
    # the position at each bar's close (base units), for order runs: what was held, where
    # unfilled orders make it differ from the targets
    position: np.ndarray | None = None


def check_inputs(targets: np.ndarray, open_: np.ndarray, index: pd.Index, init_cash: float) -> None:
    """Typed errors for inputs the rule cannot trade on (vectorbt would raise deep inside)."""
    try:
        cash = float(init_cash)
    except (TypeError, ValueError):
        cash = math.nan
    if isinstance(init_cash, bool) or not math.isfinite(cash) or cash <= 0:
        raise ValidationError("init_cash", init_cash, "must be a positive, finite amount")
    bad = np.flatnonzero(np.isinf(targets))
    if len(bad):
        raise ValidationError(
            "target", float(targets[bad[0]]), f"must be finite (first at {index[bad[0]]})"
        )
    bad = np.flatnonzero(~(open_ > 0) & ~np.isnan(open_) | np.isinf(open_))
    if len(bad):
        raise ValidationError(
            "open", float(open_[bad[0]]), f"must be a positive price (first at {index[bad[0]]})"
        )


def simulate(
    targets: np.ndarray, open_: np.ndarray, close: np.ndarray, costs: Costs, init_cash: float
) -> Simulation:
    """Run the kernel as Python over the bars where an order is due (see its docstring)."""
    from nzeza.research import kernel

    n = len(targets)
    change = np.empty(n)
    change[:1] = targets[:1]
    np.subtract(targets[1:], targets[:-1], out=change[1:])
    due = np.flatnonzero((change[:-1] != 0) & ~np.isnan(targets[:-1])) + 1
    q = len(due)
    out: dict[str, list] = {k: [0] * q for k in ("bar", "size", "price", "fees", "side")}
    m = kernel.fill_orders(
        due.tolist(), targets[due - 1].tolist(), ffill(open_)[due].tolist(),
        open_[due].tolist(), q, costs.fee, costs.slippage, float(init_cash),
        out["bar"], out["size"], out["price"], out["fees"], out["side"],
    )  # fmt: skip
    return account({k: v[:m] for k, v in out.items()}, close, init_cash)


def simulate_policy(
    targets: np.ndarray, bars: pd.DataFrame, costs: Costs, init_cash: float, policy: Any
) -> Simulation:
    """Limit, post-only or stop orders (`nzeza.research.orders`) instead of market ones: the
    order-level simulator's fills, accounted for exactly as the kernel's are."""
    from nzeza.research.orders import simulate_orders

    open_, high, low, close = (
        bars[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")
    )
    fills, orders = simulate_orders(targets, open_, high, low, close, costs, init_cash, policy)
    return account(fills, close, init_cash, orders)


def account(
    fills: dict[str, list],
    close: np.ndarray,
    init_cash: float,
    orders: list[dict[str, Any]] | None = None,
) -> Simulation:
    """Equity per bar and exit trades from filled orders (bar, size, price, fees, side), as
    vectorbt's `value()` and `trades` rebuild them."""
    from nzeza.research import kernel

    n = len(close)
    m = len(fills["bar"])
    at: dict[str, list] = {k: [0.0] * m for k in ("cash", "assets", "cash_after", "assets_after")}
    kernel.value_at_orders(
        fills["bar"], fills["size"], fills["price"], fills["fees"], fills["side"], m,
        float(init_cash), at["cash"], at["assets"], at["cash_after"], at["assets_after"],
    )  # fmt: skip
    # cash and position per bar: the value at each order's bar, then its carried value until
    # the next order (empty runs when orders are on consecutive bars)
    bars = np.asarray(fills["bar"], dtype=np.int64)
    starts = np.empty(2 * m + 1, dtype=np.int64)
    starts[0], starts[1::2], starts[2::2] = 0, bars, bars + 1
    lengths = np.diff(np.append(starts, n))
    start_cash = kernel.add(float(init_cash), 0.0)
    cash = np.repeat(_interleave(start_cash, at["cash"], at["cash_after"]), lengths)
    assets = np.repeat(_interleave(0.0, at["assets"], at["assets_after"]), lengths)
    # vectorbt's value(): cash + close × position, the close zeroed where there is no position
    equity = np.where(assets != 0, cash + filled_close(close) * assets, cash)
    trades: dict[str, list] = {
        k: [0] * (m + 1)
        for k in ("size", "entry_bar", "entry_price", "exit_bar", "exit_price", "fees", "pnl",
                  "return", "direction", "status")
    }  # fmt: skip
    t = kernel.exit_trades(
        fills["bar"], fills["size"], fills["price"], fills["fees"], fills["side"], m, n - 1,
        float(close[-1]) if n else math.nan, *trades.values(),
    )  # fmt: skip
    return Simulation(
        equity=equity,
        fills={k: np.asarray(v) for k, v in fills.items()},
        trades={k: np.asarray(v[:t]) for k, v in trades.items()},
        orders=orders,
        position=None if orders is None else assets,
    )


def _interleave(first: float, at: list[float], after: list[float]) -> np.ndarray:
    out = np.empty(2 * len(at) + 1)
    out[0], out[1::2], out[2::2] = first, at, after
    return out


def trades_frame(sim: Simulation, index: pd.Index) -> pd.DataFrame:
    """The exit trades as a frame (TRADE_COLUMNS): closed trades in order, then the open one
    (status 'open', marked at the last close, exit time = the last bar's time)."""
    tr = sim.trades
    if not len(tr["size"]):
        return pd.DataFrame(columns=TRADE_COLUMNS)
    long = tr["direction"] == 0
    closed = tr["status"] == 1
    return pd.DataFrame(
        {
            "entry_time": pd.to_datetime(index.take(tr["entry_bar"]), utc=True),
            "exit_time": pd.to_datetime(index.take(tr["exit_bar"]), utc=True),
            "side": pd.Series(np.where(long, "long", "short"), dtype=object),
            "entry_price": tr["entry_price"].astype(float),
            "exit_price": tr["exit_price"].astype(float),
            "size": tr["size"].astype(float),
            "pnl": tr["pnl"].astype(float),
            "fees": tr["fees"].astype(float),
            "return": tr["return"].astype(float),
            "status": pd.Series(np.where(closed, "closed", "open"), dtype=object),
        }
    )


@dataclass
class BacktestResult:
    strategy: Any
    bars: pd.DataFrame
    costs: Costs
    init_cash: float
    targets: pd.Series
    simulation: Simulation = field(repr=False)
    # what the trial registry did with this backtest (None: not registered, see research.trials)
    registration: Any = field(default=None, repr=False)
    # how targets became orders (`nzeza.research.orders.OrderPolicy`; None = market)
    policy: Any = None

    @cached_property
    def orders(self) -> pd.DataFrame:
        """Every limit, post-only or stop order and its outcome (status filled, rejected,
        cancelled, expired or open; times of the deciding bar and of the outcome); empty for
        market orders."""
        from nzeza.research.orders import ORDER_COLUMNS

        rows = self.simulation.orders or []
        frame = pd.DataFrame(rows, columns=ORDER_COLUMNS)
        index = self.bars.index
        frame.insert(0, "decided", pd.to_datetime(index.take(frame["decided_bar"].astype(int))))
        frame.insert(1, "time", pd.to_datetime(index.take(frame["bar"].astype(int))))
        return frame

    @cached_property
    def trades(self) -> pd.DataFrame:
        """Closed trades first, then the open one (status 'open', marked at the last close)."""
        return trades_frame(self.simulation, self.bars.index)

    @cached_property
    def equity(self) -> pd.Series:
        return pd.Series(self.simulation.equity, index=self.bars.index, name="equity")

    @property
    def returns(self) -> pd.Series:
        return self.equity.pct_change().fillna(0.0).rename("returns")

    @cached_property
    def stats(self) -> pd.Series:
        from nzeza.research.metrics import performance

        out = performance(self.equity, self.trades, self.targets, freq_of(self.bars.index))
        if self.simulation.position is not None:
            # limit/post-only/stop orders: the share of bars closed in a position, as filled
            out["exposure"] = float(np.mean(self.simulation.position != 0))
        return out

    @cached_property
    def portfolio(self) -> Any:
        """The vectorbt Portfolio of this run (built on first access; same trades and equity).
        With limit, post-only or stop orders it replays this run's fills (amount, price and
        fee rate per fill) through vectorbt."""
        if self.policy is not None and not self.policy.is_market:
            return fills_portfolio(self.bars, self.simulation, self.init_cash)
        return run_portfolio(self.bars, self.targets, self.costs, self.init_cash)

    def plot(self, title: str | None = None) -> Any:
        from nzeza.research.plots import backtest_figure

        return backtest_figure(self, title)


def backtest(
    strategy: Any,
    bars: pd.DataFrame,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    *,
    ledger: Any = None,
    register: bool = True,
    orders: Any = None,
) -> BacktestResult:
    """Backtest `strategy` on `bars` with `costs` (see the module docstring for the rule).

    `orders` (an `nzeza.research.orders.OrderPolicy`; default: the strategy's `orders`
    attribute, else market) fills limit, post-only or stop orders by the bar rule of
    `nzeza.research.orders`, with maker and taker fees per fill.
    The backtest is registered as a trial in `ledger` (default: the configured ledger);
    `register=False` opts out, with a warning (see `nzeza.research.trials`)."""
    from nzeza.data.checks import check_bars
    from nzeza.research.trials import record_backtest

    check_bars(bars)  # sorted, unique, finite, positive, high/low consistent
    result = run_unchecked(strategy, bars, costs or Costs(), init_cash, orders=orders)
    result.registration = record_backtest(result, ledger=ledger, register=register)
    return result


def run_unchecked(
    strategy: Any, bars: pd.DataFrame, costs: Costs, init_cash: float, *, orders: Any = None
) -> BacktestResult:
    """The kernel on bars as given (no bar checks, no registration): what `backtest` runs
    once the bars are checked; the kernel's own tests feed it NaN prices on purpose."""
    targets = strategy.targets(bars) if hasattr(strategy, "targets") else strategy.target(bars)
    values = np.asarray(targets, dtype=np.float64)
    if values.shape != (len(bars),):
        raise ValidationError("target", values.shape, f"must be one value per bar ({len(bars)})")
    open_ = bars["open"].to_numpy(dtype=np.float64)
    check_inputs(values, open_, bars.index, init_cash)
    from nzeza.research.orders import policy_of

    policy = policy_of(strategy, orders)
    if policy.is_market:
        close = bars["close"].to_numpy(dtype=np.float64)
        run = simulate(values, open_, close, costs, init_cash)
        return BacktestResult(strategy, bars, costs, init_cash, targets, run)
    run = simulate_policy(values, bars, costs, init_cash, policy)
    return BacktestResult(strategy, bars, costs, init_cash, targets, run, policy=policy)


__all__ = [
    "TRADE_COLUMNS",
    "BacktestResult",
    "Simulation",
    "account",
    "backtest",
    "check_inputs",
    "ffill",
    "filled_close",
    "fills_portfolio",
    "order_sizes",
    "run_portfolio",
    "run_unchecked",
    "simulate",
    "simulate_policy",
    "trades_frame",
]
