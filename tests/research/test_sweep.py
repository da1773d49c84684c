"""Sweeps on the compiled kernel: the table vectorbt + pandas gave before, bit for bit; the same
table whatever the chunking; per-bar returns kept on request, in table order."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import backtest, sweep
from nzeza.research.backtest import freq_of, run_portfolio
from nzeza.research.metrics import periods_per_year
from nzeza.research.sweep import target_block
from nzeza.strategies import BollingerReversion, SmaCross, VolTargetMomentum

COSTS = Costs(0.001, 0.0005)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-6000:]


def pandas_stats(values: pd.DataFrame, ppy: float) -> pd.DataFrame:
    """The statistics as the sweep computed them before, in pandas on vectorbt's equity frame."""
    rets = values.pct_change().iloc[1:]
    mean, std = rets.mean(), rets.std(ddof=1)
    sr = (mean / std.replace(0, np.nan)).fillna(0.0)
    mdd = (1 - values / values.cummax()).max()
    years = max((values.index[-1] - values.index[0]) / pd.Timedelta(days=365), 1e-9)
    growth = values.iloc[-1] / values.iloc[0]
    cagr = growth.clip(lower=0) ** (1 / years) - 1
    return pd.DataFrame(
        {
            "total_return": growth - 1,
            "cagr": cagr,
            "sharpe": sr * math.sqrt(ppy),
            "sharpe_per_period": sr,
            "max_drawdown": mdd,
            "calmar": cagr / mdd.replace(0, np.nan),
            "skew": rets.skew(),
            "kurtosis": rets.kurt() + 3.0,
            "n_obs": rets.count(),
            "final_equity": values.iloc[-1],
        }
    )


def vectorbt_table(cls: type, bars: pd.DataFrame, combos: list[dict]) -> pd.DataFrame:
    """The reference sweep: vectorbt's Portfolio over the target block, pandas statistics."""
    targets = pd.DataFrame(target_block([cls(**p) for p in combos], bars), index=bars.index)
    pf = run_portfolio(bars, targets, COSTS, 10_000.0)
    stats = pandas_stats(pf.value(), periods_per_year(freq_of(bars.index)))
    stats["trades"] = pf.trades.closed.count().to_numpy()
    prev = targets.to_numpy()[:-1]
    stats["exposure"] = np.count_nonzero((prev != 0) & ~np.isnan(prev), axis=0) / len(bars)
    return pd.concat([pd.DataFrame(combos), stats.reset_index(drop=True)], axis=1)


@pytest.mark.parametrize(
    ("cls", "grid"),
    [
        (SmaCross, {"fast": [5, 10, 20, 40], "slow": [30, 60, 120, 240]}),
        (BollingerReversion, {"window": [20, 50], "k": [1.5, 2.0, 2.5]}),
        (VolTargetMomentum, {"lookback": [72, 168], "target_vol": [0.3, 0.5]}),
    ],
)
def test_sweep_equals_vectorbt_and_pandas_bit_for_bit(bars, cls, grid) -> None:
    table = sweep(cls, bars, grid, COSTS, progress=False, chunk_size=3)
    ref = vectorbt_table(cls, bars, table[list(grid)].to_dict("records"))
    assert list(table.columns) == list(ref.columns)
    assert table.dtypes.tolist() == ref.dtypes.tolist()
    for col in table.columns:
        ours, theirs = table[col].to_numpy(), ref[col].to_numpy()
        if col in ("skew", "kurtosis"):  # pandas' Cython moments: same formula, other sums
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, equal_nan=True)
        else:
            assert np.array_equal(ours, theirs, equal_nan=True), col


def test_the_table_does_not_depend_on_the_chunking(bars) -> None:
    grid = {"fast": [3, 5, 8, 13, 21], "slow": [34, 55, 89]}
    tables = [sweep(SmaCross, bars, grid, COSTS, progress=False, chunk_size=c) for c in (1, 4, 250)]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other, check_exact=True)


def test_kept_returns_are_each_rows_backtest_in_table_order(bars) -> None:
    grid = {"fast": [5, 10, 20], "slow": [30, 60]}
    table = sweep(SmaCross, bars, grid, COSTS, progress=False, chunk_size=4, keep_returns=True)
    returns = table.attrs["returns"]
    assert returns.dtype == np.float32 and returns.flags.c_contiguous
    assert returns.shape == (len(bars), len(table))
    assert table.attrs["index"].equals(bars.index)
    for j, row in table.iterrows():
        single = backtest(SmaCross(fast=int(row["fast"]), slow=int(row["slow"])), bars, COSTS)
        assert row["final_equity"] == single.equity.iloc[-1]
        expected = single.equity.pct_change().fillna(0.0).to_numpy().astype(np.float32)
        assert np.array_equal(returns[:, j], expected)
    # pandas deep-copies attrs into derived frames: the matrix is shared, read-only, not copied
    assert table.head(2).attrs["returns"] is returns
    assert not returns.flags.writeable


def test_returns_are_kept_only_when_asked(bars) -> None:
    table = sweep(SmaCross, bars, {"fast": [5], "slow": [30]}, COSTS, progress=False)
    assert "returns" not in table.attrs and "index" not in table.attrs


def test_ties_keep_the_grid_order() -> None:
    short = load_sample("btc_usd_1h").iloc[:100]
    # windows longer than the data never trade: every Sharpe is 0, the order is the grid's
    grid = {"fast": [150, 120, 110], "slow": [400, 300]}
    table = sweep(SmaCross, short, grid, COSTS, progress=False, chunk_size=2)
    assert (table["sharpe"] == 0).all()
    assert list(zip(table["fast"], table["slow"], strict=True)) == [
        (150, 400),
        (150, 300),
        (120, 400),
        (120, 300),
        (110, 400),
        (110, 300),
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 2.5}, "chunk_size"),
        ({"scheduler": "threads"}, "scheduler"),
        ({"scheduler": "tcp://"}, "scheduler"),
        ({"init_cash": 0.0}, "init_cash"),
    ],
)
def test_bad_arguments_are_typed_errors(bars, kwargs, field) -> None:
    with pytest.raises(ValidationError) as err:
        sweep(SmaCross, bars, {"fast": [5], "slow": [30]}, COSTS, progress=False, **kwargs)
    assert err.value.field == field


def test_an_infinite_target_is_refused(bars) -> None:
    class Infinite(SmaCross):
        def targets(self, bars: pd.DataFrame) -> pd.Series:  # an override skips the checks
            return pd.Series(np.inf, index=bars.index)

    with pytest.raises(ValidationError) as err:
        sweep(Infinite, bars, {"fast": [5], "slow": [30]}, COSTS, progress=False)
    assert err.value.field == "target"
