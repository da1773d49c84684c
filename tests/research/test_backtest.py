"""The vectorbt backtest against an independent plain-Python loop of the same convention."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.research import backtest
from nzeza.strategies import BollingerReversion, SmaCross, VolTargetMomentum

COSTS = Costs(0.001, 0.0005)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-6000:]


def plain_loop(targets: pd.Series, bars: pd.DataFrame, costs: Costs, cash: float):
    """The fill convention written out: decide at close t, trade at open t+1 only on a change;
    order to target × (cash + pos × open) / open; buys at open(1+s), limited by cash with fees;
    sells at open(1−s); fee on notional. Returns trades (entry, exit, size) and final equity."""
    pos, prev, trades, entry = 0.0, 0.0, [], None
    t, o, c = targets.to_numpy(), bars["open"].to_numpy(), bars["close"].to_numpy()
    for i in range(1, len(bars)):
        want = t[i - 1]
        if want != prev:
            prev = want
            delta = want * (cash + pos * o[i]) / o[i] - pos
            if delta > 0:
                px = o[i] * (1 + costs.slippage)
                if delta * px * (1 + costs.fee) > cash * (1 + 1e-9):
                    delta = cash / (1 + costs.fee) / px
                cash -= delta * px * (1 + costs.fee)
            elif delta < 0:
                px = o[i] * (1 - costs.slippage)
                cash += -delta * px * (1 - costs.fee)
            if delta != 0:
                before, pos = pos, pos + delta
                if before == 0 or np.sign(before) != np.sign(pos):
                    if before != 0:
                        trades.append((entry, bars.index[i]))
                    entry = bars.index[i] if pos != 0 else None
    return trades, cash + pos * c[-1]


@pytest.mark.parametrize(
    "strategy",
    [
        SmaCross(fast=10, slow=30),
        BollingerReversion(window=20, k=2.0),
        VolTargetMomentum(lookback=48, vol_window=48),
    ],
    ids=["long_all_in", "long_short", "fractional"],
)
def test_backtest_matches_the_plain_loop(bars, strategy) -> None:
    result = backtest(strategy, bars, COSTS, 10_000)
    trades, final = plain_loop(result.targets, bars, COSTS, 10_000)
    assert float(result.equity.iloc[-1]) == pytest.approx(final, rel=1e-9)
    if isinstance(strategy, SmaCross):  # all-in, no partial exits: trades map one to one
        closed = result.trades[result.trades["status"] == "closed"]
        assert len(closed) == len(trades) > 20
        assert list(closed["entry_time"]) == [e for e, _ in trades]
        assert list(closed["exit_time"]) == [x for _, x in trades]


def test_result_shape_and_stats(bars) -> None:
    r = backtest(SmaCross(), bars, COSTS)
    assert list(r.trades.columns)[:8] == [
        "entry_time",
        "exit_time",
        "side",
        "entry_price",
        "exit_price",
        "size",
        "pnl",
        "fees",
    ]
    assert r.equity.index.equals(bars.index)
    for key in (
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "exposure",
        "trades",
    ):
        assert key in r.stats
    first = r.trades.iloc[0]
    # the entry executes at the open of the bar after the signal, with slippage
    assert first["entry_price"] == pytest.approx(bars.loc[first["entry_time"], "open"] * 1.0005)
    assert len(r.plot().data) >= 3
