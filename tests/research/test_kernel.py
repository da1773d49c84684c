"""nzeza's kernel of the fill rule against vectorbt, bit for bit: every shipped strategy on every
bundled series, random targets and costs (hypothesis), and the compiled sweep path against the
Python single-backtest path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import backtest
from nzeza.research.backtest import filled_close, run_portfolio, run_unchecked
from nzeza.research.kernel import compiled
from nzeza.strategies import REGISTRY

COSTS = Costs(0.001, 0.0005)


def bundled_series() -> dict[str, pd.DataFrame]:
    out = {"btc_usd_1h": load_sample("btc_usd_1h")}
    out["coinbase_btc_usd_1h"] = load_sample("coinbase_btc_usd_1h")
    daily = load_sample("bitstamp_1d")
    for asset in sorted({a for a, _ in daily.columns}):
        out[f"bitstamp_1d_{asset.lower()}"] = daily[asset].dropna()
    return out


SERIES = bundled_series()


def vectorbt_run(bars: pd.DataFrame, targets: np.ndarray, costs: Costs, cash: float):
    """The reference: vectorbt's Portfolio.from_orders on the same arrays (tz-naive index)."""
    naive = pd.DataFrame(
        {"open": bars["open"].to_numpy(), "close": bars["close"].to_numpy()},
        index=pd.RangeIndex(len(bars)),
    )
    pf = run_portfolio(naive, pd.Series(targets, index=naive.index), costs, cash)
    return pf.value().to_numpy(), pf.trades.records


def assert_same_as_vectorbt(result, bars: pd.DataFrame, costs: Costs, cash: float) -> None:
    equity, rec = vectorbt_run(bars, result.targets.to_numpy(float), costs, cash)
    assert np.array_equal(result.equity.to_numpy(), equity, equal_nan=True)
    tr = result.trades
    assert len(tr) == len(rec)
    if not len(rec):
        return
    idx = bars.index
    assert (tr["entry_time"].to_numpy() == idx[rec["entry_idx"]].to_numpy()).all()
    assert (tr["exit_time"].to_numpy() == idx[rec["exit_idx"]].to_numpy()).all()
    for ours, theirs in (
        ("entry_price", rec["entry_price"]),
        ("exit_price", rec["exit_price"]),
        ("size", rec["size"]),
        ("pnl", rec["pnl"]),
        ("return", rec["return"]),
        ("fees", rec["entry_fees"] + rec["exit_fees"]),
    ):
        assert np.array_equal(tr[ours].to_numpy(), theirs, equal_nan=True), ours
    assert tr["side"].tolist() == ["long" if d == 0 else "short" for d in rec["direction"]]
    assert tr["status"].tolist() == ["closed" if s == 1 else "open" for s in rec["status"]]


def compiled_columns(bars: pd.DataFrame, targets: np.ndarray, costs: Costs, cash: float) -> dict:
    """The sweep path: the compiled kernel over a block of target columns."""
    block = np.asfortranarray(targets, dtype=np.float64)
    n, k = block.shape
    out = {"returns": np.empty((k, n - 1))}
    for name in ("final", "first", "max_dd", "skew", "kurt"):
        out[name] = np.empty(k)
    out["closed"], out["held"] = np.empty(k, np.int64), np.empty(k, np.int64)
    close = bars["close"].to_numpy(dtype=np.float64)
    compiled()(
        block.T, bars["open"].to_numpy(dtype=np.float64), filled_close(close), float(close[-1]),
        costs.fee, costs.slippage, float(cash), out["returns"], out["final"], out["first"],
        out["max_dd"], out["closed"], out["held"], out["skew"], out["kurt"],
    )  # fmt: skip
    return out


def assert_compiled_equals_single(result, bars: pd.DataFrame, costs: Costs, cash: float) -> None:
    out = compiled_columns(bars, result.targets.to_numpy(float)[:, None], costs, cash)
    equity = result.equity.to_numpy()
    assert out["final"][0] == equity[-1] or np.isnan(equity[-1])
    assert np.array_equal(out["returns"][0], equity[1:] / equity[:-1] - 1, equal_nan=True)
    assert out["closed"][0] == int((result.trades["status"] == "closed").sum())


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("series", sorted(SERIES))
def test_kernel_equals_vectorbt_on_every_shipped_strategy(series, name) -> None:
    bars = SERIES[series]
    result = backtest(REGISTRY[name](), bars, COSTS, 10_000)
    assert_same_as_vectorbt(result, bars, COSTS, 10_000)
    assert_compiled_equals_single(result, bars, COSTS, 10_000)


class Fixed:
    """A strategy whose targets are given (any values: fractions, shorts, NaN = no decision)."""

    warmup = 1

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return pd.Series(self.values, index=bars.index)


@st.composite
def scenarios(draw):
    n = draw(st.integers(2, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([100.0, 1e-4, 3e4]))
    close = scale * np.exp(np.cumsum(rng.normal(0, draw(st.sampled_from([0.001, 0.02, 0.2])), n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
    if draw(st.booleans()):  # missing prices: orders there are ignored, valuation forward-fills
        open_[rng.random(n) < 0.1] = np.nan
        close[rng.random(n) < 0.1] = np.nan
    levels = draw(
        st.lists(
            st.sampled_from(
                [0.0, 1.0, -1.0, 0.5, -0.25, 0.1, 0.3, 1e-13, np.nan, 0.7000000001, 0.999999999]
            ),
            min_size=1,
            max_size=12,
        )
    )
    targets = np.array(levels)[rng.integers(0, len(levels), n)]
    hold = rng.random(n) < draw(st.sampled_from([0.0, 0.5, 0.9]))  # runs of unchanged targets
    for i in np.flatnonzero(hold):
        if i:
            targets[i] = targets[i - 1]
    costs = Costs(
        draw(st.sampled_from([0.0, 0.001, 0.01, 0.1])),
        draw(st.sampled_from([0.0, 0.0005, 0.05])),
    )
    cash = draw(st.sampled_from([1e-3, 1.0, 10_000.0, 1e9, 123.456]))
    idx = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    bars = pd.DataFrame({"open": open_, "high": np.nan, "low": np.nan, "close": close}, idx)
    return bars, targets, costs, cash


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_kernel_equals_vectorbt_on_random_targets_and_costs(scenario) -> None:
    bars, targets, costs, cash = scenario
    # NaN prices are refused by backtest(); the kernel itself still handles them like vectorbt
    result = run_unchecked(Fixed(targets), bars, costs, cash)
    assert_same_as_vectorbt(result, bars, costs, cash)
    assert_compiled_equals_single(result, bars, costs, cash)


def test_portfolio_is_vectorbts_run_built_on_first_access() -> None:
    bars = SERIES["btc_usd_1h"].iloc[-3000:]
    result = backtest(REGISTRY["bollinger_reversion"](), bars, COSTS, 10_000)
    assert "portfolio" not in vars(result)  # not built by the backtest
    pf = result.portfolio
    assert np.array_equal(pf.value().to_numpy(), result.equity.to_numpy())
    assert pf.value().index.equals(bars.index)
    assert len(pf.trades.records) == len(result.trades)


def test_a_backtest_loads_neither_vectorbt_nor_numba_nor_scipy() -> None:
    code = (
        "import json, sys\n"
        "from nzeza.data import load_sample\n"
        "from nzeza.research import backtest\n"
        "from nzeza.strategies import SmaCross\n"
        "heavy = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'vectorbt', 'numba', "
        "'scipy'})\n"
        "r = backtest(SmaCross(), load_sample('btc_usd_1h').iloc[-2000:])\n"
        "r.equity, r.trades\n"
        "first = heavy()\n"
        "r.stats\n"
        "print(json.dumps([first, heavy()]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, after_stats = json.loads(out.stdout.strip().splitlines()[-1])
    assert first == []  # what a fresh process pays for its first backtest: none of them
    assert after_stats == ["scipy"]  # the statistics use scipy's moments, still no vectorbt


def _open_at(bars: pd.DataFrame, i: int, value: float) -> pd.DataFrame:
    out = bars.copy()
    out.iloc[i, out.columns.get_loc("open")] = value
    return out


@pytest.mark.parametrize(
    ("field", "bad_bar", "mutate"),
    [
        ("target", 7, lambda bars, t: (bars, np.where(np.arange(len(t)) == 7, np.inf, t))),
        ("bars.open", 9, lambda bars, t: (_open_at(bars, 9, 0.0), t)),
        ("bars.open", 9, lambda bars, t: (_open_at(bars, 9, np.inf), t)),
        ("bars.open", 9, lambda bars, t: (_open_at(bars, 9, -3.0), t)),
    ],
)
def test_bad_inputs_are_typed_errors_naming_the_field(field, bad_bar, mutate) -> None:
    bars = SERIES["btc_usd_1h"].iloc[:50]
    bars, targets = mutate(bars, np.ones(len(bars)))
    with pytest.raises(ValidationError) as err:
        backtest(Fixed(targets), bars, COSTS, 10_000)
    assert err.value.field == field
    assert str(bars.index[bad_bar]) in str(err.value)


@pytest.mark.parametrize("cash", [0.0, -5.0, float("nan"), float("inf"), True, "x"])
def test_bad_initial_cash_is_a_typed_error(cash) -> None:
    with pytest.raises(ValidationError) as err:
        backtest(Fixed(np.ones(10)), SERIES["btc_usd_1h"].iloc[:10], COSTS, cash)
    assert err.value.field == "init_cash"
