"""Portfolio backtests (issue 17): vectorbt with shared cash against an independent loop of the
same rule, the weights contract's invariants, and what a portfolio strategy is refused."""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import backtest
from nzeza.research.backtest import TRADE_COLUMNS
from nzeza.research.portfolio import backtest_portfolio
from nzeza.research.trials import data_fingerprint, timeframe_of
from nzeza.store import Ledger
from nzeza.store.trials import TrialGroup, group_rows
from nzeza.strategies import (
    PORTFOLIO_REGISTRY,
    REGISTRY,
    CrossSectionalMomentum,
    PortfolioStrategy,
    identify,
    strategy_identity,
)

COSTS = Costs(0.001, 0.0005)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample("bitstamp_1d")


@pytest.fixture
def ledger(tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        yield led


class RandomWeights(PortfolioStrategy):
    """Test double: seeded random long/short weights, new ones every `every` bars, gross up to
    ~2 (scaled down to max_gross by the contract): sells, buys, shorts and flips on one bar."""

    seed: int = 0
    every: int = 3

    def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        symbols = list(dict.fromkeys(panel.columns.get_level_values(0)))
        rng = np.random.default_rng(self.seed)
        raw = rng.uniform(-0.7, 0.7, size=(len(panel), len(symbols)))
        raw[rng.uniform(size=raw.shape) < 0.2] = 0.0
        keep = np.arange(len(panel)) % self.every != 0
        out = pd.DataFrame(raw, index=panel.index, columns=symbols)
        return out.mask(pd.DataFrame(np.repeat(keep[:, None], len(symbols), 1), index=panel.index,
                                     columns=symbols)).ffill().fillna(0.0)  # fmt: skip


def plain_portfolio(weights: pd.DataFrame, panel: pd.DataFrame, costs: Costs, cash: float):
    """The rule written out, independently of vectorbt: a target decided at close t trades at
    open t+1 when it changed; the portfolio is valued once at that open (cash + Σ pos × open,
    a symbol's last open when it has none); each order moves its symbol to w × value / open;
    orders run by approximate value w × value − pos × open, lowest first (sells first, ties
    in column order); buys at open(1+s) limited by the shared cash with fees, sells at
    open(1−s), fee on notional; no buy without cash, no order below 1e-8 units. Returns the
    orders and the equity per bar."""
    symbols = list(weights.columns)
    w = weights.to_numpy()
    o = np.column_stack([panel[(s, "open")].to_numpy() for s in symbols])
    c = np.column_stack([panel[(s, "close")].to_numpy() for s in symbols])
    c = pd.DataFrame(c).ffill().bfill().to_numpy()
    n, k = w.shape
    pos = [0.0] * k
    last_open = [math.nan] * k
    prev = [0.0] * k
    orders, equity = [], []
    for i in range(n):
        for j in range(k):
            if not math.isnan(o[i, j]):
                last_open[j] = o[i, j]
        if i > 0:
            due = []
            for j in range(k):
                if w[i - 1, j] != prev[j] and not math.isnan(o[i, j]):
                    due.append(j)
                prev[j] = w[i - 1, j]
            value = cash
            for j in range(k):
                if pos[j] != 0:
                    value += pos[j] * last_open[j]
            due.sort(key=lambda j: w[i - 1, j] * value - pos[j] * last_open[j])
            for j in due:
                delta = w[i - 1, j] * value / last_open[j] - pos[j]
                if abs(delta) < 1e-8:  # below the minimum order size: no order
                    continue
                if delta > 0:
                    if cash <= 0:  # nothing left to pay with: the buy is refused
                        continue
                    px = o[i, j] * (1 + costs.slippage)
                    notional = delta * px
                    fee = notional * costs.fee
                    if notional + fee > cash:  # the shared cash pays what it can, fees included
                        spend = cash / (1 + costs.fee)
                        delta, fee = spend / px, cash - spend
                        notional = spend
                    cash -= notional + fee
                    pos[j] += delta
                    orders.append((i, symbols[j], "buy", delta, px, fee))
                elif delta < 0:
                    px = o[i, j] * (1 - costs.slippage)
                    notional = -delta * px
                    fee = notional * costs.fee
                    cash += notional - fee
                    pos[j] += delta
                    orders.append((i, symbols[j], "sell", -delta, px, fee))
        equity.append(cash + sum(p * c[i, j] for j, p in enumerate(pos) if p != 0))
    return orders, np.asarray(equity)


@pytest.mark.parametrize(
    "strategy",
    [
        CrossSectionalMomentum(top=2, lookback=60, rebalance=7),
        CrossSectionalMomentum(top=1, lookback=30, rebalance=1, absolute=False),
        RandomWeights(seed=3, every=3),
        RandomWeights(seed=5, every=1, max_gross=1.5, max_weight=0.7),
    ],
    ids=["momentum-top2", "momentum-daily", "random-long-short", "random-levered"],
)
def test_portfolio_backtest_equals_an_independent_loop(panel, ledger, strategy) -> None:
    result = backtest_portfolio(strategy, panel, COSTS, 10_000.0, ledger=ledger)
    orders, equity = plain_portfolio(result.weights, panel, COSTS, 10_000.0)
    got = result.orders
    assert len(got) == len(orders) > 20
    expect = pd.DataFrame(orders, columns=["bar", "symbol", "side", "size", "price", "fees"])
    assert got["time"].tolist() == panel.index.take(expect["bar"]).tolist()
    assert got["symbol"].tolist() == expect["symbol"].tolist()
    assert got["side"].tolist() == expect["side"].tolist()
    np.testing.assert_array_equal(got["size"].to_numpy(), expect["size"].to_numpy())
    np.testing.assert_array_equal(got["price"].to_numpy(), expect["price"].to_numpy())
    np.testing.assert_allclose(got["fees"].to_numpy(), expect["fees"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(result.equity.to_numpy(), equity, rtol=0, atol=1e-9)
    assert result.equity.index.equals(panel.index)  # the UTC index is back
    # trades per symbol: the single-symbol columns plus the symbol
    trades = result.trades
    assert list(trades.columns) == ["symbol", *TRADE_COLUMNS]
    assert set(trades["symbol"]) <= set(result.symbols)
    assert (trades["entry_time"] <= trades["exit_time"]).all()
    for sym in result.symbols:  # each symbol's orders add up to its last position
        mine = got[got["symbol"] == sym]
        signed = np.where(mine["side"] == "buy", mine["size"], -mine["size"]).sum()
        assert result.positions[sym].iloc[-1] == pytest.approx(signed, abs=1e-9)


def test_sells_run_before_buys_within_a_bar(panel) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = backtest_portfolio(RandomWeights(seed=3, every=3), panel, COSTS, register=False)
    orders = result.orders
    mixed = 0
    for _, bar in orders.groupby("time", sort=False):
        sides = bar["side"].tolist()
        if "buy" in sides and "sell" in sides:
            mixed += 1
            # by approximate order value, ascending: a sell's is negative, a buy's positive
            assert sides == sorted(sides, key=lambda side: side == "buy")
    assert mixed > 10


def test_the_shipped_example_is_registered_and_identified() -> None:
    assert PORTFOLIO_REGISTRY["cross_sectional_momentum"] is CrossSectionalMomentum
    # apart from the single-symbol strategies, which every session-side path iterates over
    assert "cross_sectional_momentum" not in REGISTRY
    found = identify(CrossSectionalMomentum(top=2))
    assert found.strategy.family == "nzeza.strategies.portfolio:CrossSectionalMomentum"
    assert len(found.strategy.source_hash) == 64 and found.strategy.method == "source"
    assert found.params["top"] == 2 and found.params["max_gross"] == 1.0
    assert identify(CrossSectionalMomentum(top=1)).params_hash != found.params_hash
    assert strategy_identity(RandomWeights).family.endswith(":RandomWeights")
    assert CrossSectionalMomentum.search_space and RandomWeights.name == "random_weights"


def test_a_portfolio_backtest_is_a_trial(panel, ledger) -> None:
    strategy = CrossSectionalMomentum(top=2)
    first = backtest_portfolio(strategy, panel, COSTS, ledger=ledger)
    assert first.registration is not None and first.registration.new == 1
    again = backtest_portfolio(strategy, panel, COSTS, ledger=ledger)
    assert again.registration.new == 0
    group = TrialGroup(
        strategy_identity(CrossSectionalMomentum).family,
        data_fingerprint(panel),
        timeframe_of(panel),
    )
    rows = group_rows(ledger, group)
    assert len(rows) == 1 and rows[0]["sharpe"] == pytest.approx(
        first.stats["sharpe_per_period"], rel=1e-9
    )
    # another slice of the panel, or one symbol's column changed, is another data set
    assert data_fingerprint(panel.iloc[1:]) != data_fingerprint(panel)
    other = panel.copy()
    other[("LTC", "close")] = other[("LTC", "close")] * 1.01
    assert data_fingerprint(other) != data_fingerprint(panel)


def test_stats_are_the_single_backtests(panel) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = backtest_portfolio(CrossSectionalMomentum(), panel, COSTS, register=False)
    stats = result.stats
    for key in ("sharpe", "sortino", "max_drawdown", "total_return", "trades", "final_equity"):
        assert key in stats.index
    assert stats["final_equity"] == result.equity.iloc[-1]
    assert stats["trades"] == (result.trades["status"] == "closed").sum()
    table = result.per_symbol()
    assert list(table.index) == ["BTC", "ETH", "LTC"]
    closed = result.trades[result.trades["status"] == "closed"]
    assert table["pnl"].sum() == pytest.approx(closed["pnl"].sum())


# -- the contract's invariants ---------------------------------------------------------------
class Given(PortfolioStrategy):
    """Test double: whatever weights the test hands it (a class attribute, not a parameter)."""

    table: ClassVar[pd.DataFrame | None] = None

    def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        assert self.table is not None
        return self.table


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.lists(
            st.floats(-0.8, 0.8, allow_subnormal=False) | st.just(math.nan),
            min_size=3,
            max_size=3,
        ),
        min_size=5,
        max_size=5,
    ),
    max_gross=st.floats(0.1, 3.0),
)
def test_weights_are_bounded_and_gross_is_scaled_down(panel, values, max_gross) -> None:
    part = panel.iloc[-5:]
    raw = pd.DataFrame(values, index=part.index, columns=["BTC", "ETH", "LTC"])
    Given.table = raw
    out = Given(max_gross=max_gross, max_weight=0.8).weights(part)
    assert list(out.columns) == ["BTC", "ETH", "LTC"] and out.index.equals(part.index)
    arr, src = out.to_numpy(), raw.fillna(0.0).to_numpy()
    assert (np.abs(arr) <= 0.8).all()
    assert (np.abs(arr).sum(axis=1) <= max_gross * (1 + 1e-12)).all()
    gross = np.abs(src).sum(axis=1)
    for i in range(len(src)):
        if gross[i] <= max_gross:
            np.testing.assert_array_equal(arr[i], src[i])  # within bounds: untouched
        else:  # scaled down in proportion, never refused
            np.testing.assert_allclose(arr[i], src[i] * max_gross / gross[i], rtol=1e-12)


def test_weights_beyond_max_weight_or_off_the_panel_are_refused(panel) -> None:
    part = panel.iloc[-5:]
    Given.table = pd.DataFrame(0.0, index=part.index, columns=["BTC", "ETH", "LTC"])
    Given.table.iloc[2, 1] = 0.6
    with pytest.raises(ValidationError, match="ETH") as err:
        Given(max_weight=0.5).weights(part)
    assert err.value.field == "weights"
    Given.table = pd.DataFrame(0.1, index=part.index, columns=["BTC", "DOGE"])
    with pytest.raises(ValidationError, match="DOGE"):
        Given().weights(part)
    Given.table = pd.DataFrame(0.1, index=part.index[1:], columns=["BTC"])
    with pytest.raises(ValidationError, match=r"panel\.index"):
        Given().weights(part)
    Given.table = pd.DataFrame(np.inf, index=part.index, columns=["BTC"])
    with pytest.raises(ValidationError):
        Given().weights(part)


def test_no_weight_where_a_symbol_has_no_price(panel) -> None:
    Given.table = pd.DataFrame(0.3, index=panel.index, columns=["BTC", "ETH", "LTC"])
    out = Given().weights(panel)
    assert (out["ETH"][panel[("ETH", "close")].isna()] == 0).all()
    assert (out["ETH"][panel[("ETH", "close")].notna()] == 0.3).all()


@settings(max_examples=15, deadline=None)
@given(
    lookback=st.integers(1, 120),
    top=st.integers(1, 3),
    rebalance=st.integers(1, 40),
    absolute=st.booleans(),
    cut=st.integers(2, 800),
)
def test_momentum_has_no_lookahead(panel, lookback, top, rebalance, absolute, cut) -> None:
    strategy = CrossSectionalMomentum(
        lookback=lookback, top=top, rebalance=rebalance, absolute=absolute
    )
    part = panel.iloc[-1000:]
    full = strategy.weights(part)
    prefix = strategy.weights(part.iloc[:cut])
    pd.testing.assert_frame_equal(prefix, full.iloc[:cut])
    assert (np.abs(full.to_numpy()).sum(axis=1) <= 1 + 1e-12).all()


# -- what is refused ------------------------------------------------------------------------
def test_a_panel_with_a_hole_or_bad_bars_is_refused(panel) -> None:
    holed = panel.copy()
    holed.iloc[1500, holed.columns.get_loc(("ETH", "close"))] = np.nan
    with pytest.raises(ValidationError, match="ETH"):
        backtest_portfolio(CrossSectionalMomentum(), holed, COSTS, register=False)
    bad = panel.copy()
    bad.iloc[1700, bad.columns.get_loc(("LTC", "high"))] = 0.5
    with pytest.raises(ValidationError, match="LTC"):
        backtest_portfolio(CrossSectionalMomentum(), bad, COSTS, register=False)
    with pytest.raises(ValidationError, match="symbol, field"):
        backtest_portfolio(CrossSectionalMomentum(), panel["BTC"], COSTS, register=False)
    with pytest.raises(ValidationError, match="init_cash"):
        backtest_portfolio(CrossSectionalMomentum(), panel, COSTS, -5.0, register=False)


def test_a_portfolio_strategy_is_not_a_single_symbol_strategy(panel) -> None:
    with pytest.raises(ValidationError, match="portfolio strategy"):
        backtest(CrossSectionalMomentum(), panel["BTC"], COSTS, register=False)
    from nzeza.strategies import SmaCross

    with pytest.raises(ValidationError, match="not a portfolio strategy"):
        backtest_portfolio(SmaCross(), panel, COSTS, register=False)


# -- the CLI ----------------------------------------------------------------------------------
def in_process(capsys, *args: str) -> tuple[int, str, str]:
    from nzeza.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_backtests_a_portfolio_strategy_on_the_panel(tmp_path, capsys, panel) -> None:
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    html = tmp_path / "pf.html"
    code, out, _ = in_process(
        capsys, "backtest", "cross_sectional_momentum", "--sample", "bitstamp_1d",
        "--params", "top=2", "--ledger", ledger, "--html", str(html),
    )  # fmt: skip
    assert code == 0
    assert "shared cash" in out and "(BTC, ETH, LTC)" in out and "NEW GROUP" in out
    per_symbol = out.split("per symbol:")[1].split("total (portfolio):")[0]
    assert [line.split()[0] for line in per_symbol.strip().splitlines()[2:]] == [
        "BTC",
        "ETH",
        "LTC",
    ]
    expected = backtest_portfolio(
        CrossSectionalMomentum(top=2), panel, Costs(0.001, 0.0005), ledger=ledger
    )
    assert f"{expected.stats['final_equity']:,.2f}" in out
    assert html.stat().st_size > 10_000
    # the same panel as a file with a symbol column: the same portfolio
    rows = panel.stack(level=0, future_stack=True).reset_index().dropna(subset=["close"])
    rows.to_csv(tmp_path / "panel.csv", index=False)
    code, again, _ = in_process(
        capsys, "backtest", "cross_sectional_momentum", "--data", str(tmp_path / "panel.csv"),
        "--params", "top=2", "--ledger", ledger,
    )  # fmt: skip
    assert code == 0 and f"{expected.stats['final_equity']:,.2f}" in again
    assert "1 configuration(s) offered, 0 new row(s)" in again  # the same data set


def test_cli_refusals_name_the_flag(capsys) -> None:
    code, _, err = in_process(capsys, "backtest", "sma_cross", "--sample", "bitstamp_1d")
    assert code == 2 and "--symbol" in err and "Traceback" not in err
    code, _, err = in_process(
        capsys, "backtest", "cross_sectional_momentum", "--sample", "bitstamp_1d", "--symbol", "ETH"
    )
    assert code == 2 and "--symbol" in err and "portfolio" in err
    code, _, err = in_process(capsys, "backtest", "cross_sectional_momentum", "--params", "top=0")
    assert code == 2 and "top" in err
    # sweep, validate and lookahead run it on the panel (tests/research/
    # test_portfolio_integrity.py), replay and parity too (tests/engine/test_portfolio_replay.py)


def test_strategies_lists_the_portfolio_example(capsys) -> None:
    code, out, _ = in_process(capsys, "strategies")
    assert code == 0 and "cross_sectional_momentum" in out and "(portfolio)" in out
