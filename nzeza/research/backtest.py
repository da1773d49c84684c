"""Backtests on vectorbt, with the one fill convention (DESIGN principle 2).

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs

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


def freq_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    if len(index) > 2:
        return pd.Timedelta(pd.Series(index).diff().median())
    return pd.Timedelta("1h")


def run_portfolio(
    bars: pd.DataFrame, targets: pd.Series | pd.DataFrame, costs: Costs, init_cash: float
) -> Any:
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


def trades_frame(portfolio: Any) -> pd.DataFrame:
    rec = portfolio.trades.records_readable
    if rec.empty:
        return pd.DataFrame(columns=TRADE_COLUMNS)
    out = pd.DataFrame(
        {
            "entry_time": pd.to_datetime(rec["Entry Timestamp"], utc=True),
            "exit_time": pd.to_datetime(rec["Exit Timestamp"], utc=True),
            "side": rec["Direction"].str.lower(),
            "entry_price": rec["Avg Entry Price"].astype(float),
            "exit_price": rec["Avg Exit Price"].astype(float),
            "size": rec["Size"].astype(float),
            "pnl": rec["PnL"].astype(float),
            "fees": (rec["Entry Fees"] + rec["Exit Fees"]).astype(float),
            "return": rec["Return"].astype(float),
            "status": rec["Status"].str.lower(),
        }
    )
    closed = out[out["status"] == "closed"]
    return pd.concat([closed, out[out["status"] != "closed"]]).reset_index(drop=True)


@dataclass
class BacktestResult:
    strategy: Any
    bars: pd.DataFrame
    costs: Costs
    init_cash: float
    targets: pd.Series
    portfolio: Any = field(repr=False)
    # what the trial registry did with this backtest (None: not registered, see research.trials)
    registration: Any = field(default=None, repr=False)

    @cached_property
    def trades(self) -> pd.DataFrame:
        """Closed trades first, then the open one (status 'open', marked at the last close)."""
        return trades_frame(self.portfolio)

    @cached_property
    def equity(self) -> pd.Series:
        return self.portfolio.value().rename("equity")

    @property
    def returns(self) -> pd.Series:
        return self.equity.pct_change().fillna(0.0).rename("returns")

    @cached_property
    def stats(self) -> pd.Series:
        from nzeza.research.metrics import performance

        return performance(self.equity, self.trades, self.targets, freq_of(self.bars.index))

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
) -> BacktestResult:
    """Backtest `strategy` on `bars` with `costs` (see the module docstring for the rule).

    The backtest is registered as a trial in `ledger` (default: the configured ledger);
    `register=False` opts out, with a warning (see `nzeza.research.trials`)."""
    from nzeza.research.trials import record_backtest

    costs = costs or Costs()
    targets = strategy.targets(bars) if hasattr(strategy, "targets") else strategy.target(bars)
    pf = run_portfolio(bars, targets, costs, init_cash)
    result = BacktestResult(strategy, bars, costs, init_cash, targets, pf)
    result.registration = record_backtest(result, ledger=ledger, register=register)
    return result
