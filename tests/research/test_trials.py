"""Every backtest is a trial: what backtest(), sweep() and walk_forward() register, and where."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import UnregisteredRunWarning, backtest, sweep, verdict, walk_forward
from nzeza.research.trials import data_fingerprint, timeframe_of
from nzeza.store import Ledger
from nzeza.store.trials import TrialGroup, group_rows, groups, load_returns
from nzeza.strategies import SmaCross, strategy_identity

GRID = {"fast": [5, 10, 20], "slow": [10, 40, 80]}  # (10, 10) and (20, 10) are invalid


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-1500:]


@pytest.fixture
def ledger(tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        yield led


def group_of(bars: pd.DataFrame) -> TrialGroup:
    return TrialGroup(
        strategy_identity(SmaCross).family, data_fingerprint(bars), timeframe_of(bars)
    )


def test_a_sweep_registers_each_valid_combination_once(bars, ledger) -> None:
    table = sweep(SmaCross, bars, GRID, progress=False, ledger=ledger, chunk_size=3)
    reg = table.attrs["registration"]
    assert table.attrs["n_trials"] == 7 and table.attrs["rejected"] == 2
    assert (reg.offered, reg.new, reg.distinct, reg.group_was_new) == (7, 7, 7, True)
    rows = group_rows(ledger, group_of(bars))
    assert len(rows) == 7 and {r["source"] for r in rows} == {"sweep"}
    assert len({r["returns_sha256"] for r in rows}) == 3  # one blob per chunk of 3
    again = sweep(SmaCross, bars, GRID, progress=False, ledger=ledger)
    assert (again.attrs["registration"].new, again.attrs["registration"].distinct) == (0, 7)
    assert not again.attrs["registration"].group_was_new
    assert len(group_rows(ledger, group_of(bars))) == 7


def test_stored_returns_and_sharpe_are_the_backtests(bars, ledger) -> None:
    table = sweep(SmaCross, bars, GRID, progress=False, ledger=ledger)
    single = backtest(SmaCross(fast=10, slow=40), bars, ledger=ledger)
    assert single.registration.new == 0  # the sweep registered this configuration already
    rows = [r for r in group_rows(ledger, group_of(bars)) if r["params"] == '{"fast":10,"slow":40}']
    assert len(rows) == 1
    stored = load_returns(ledger, rows)[:, 0]
    np.testing.assert_allclose(stored, single.returns.to_numpy(), rtol=1e-6, atol=1e-9)
    row = table[(table["fast"] == 10) & (table["slow"] == 40)].iloc[0]
    assert rows[0]["sharpe"] == pytest.approx(row["sharpe_per_period"], rel=1e-9)
    assert rows[0]["sharpe"] == pytest.approx(single.stats["sharpe_per_period"], rel=1e-9)
    assert rows[0]["n_obs"] == len(bars) - 1


def test_a_new_slice_or_timeframe_starts_a_new_group_and_says_so(bars, ledger) -> None:
    sweep(SmaCross, bars, GRID, progress=False, ledger=ledger)
    shorter = sweep(SmaCross, bars.iloc[1:], GRID, progress=False, ledger=ledger)
    assert shorter.attrs["registration"].group_was_new
    four_hourly = bars.resample("4h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    coarse = sweep(SmaCross, four_hourly, GRID, progress=False, ledger=ledger)
    assert coarse.attrs["registration"].group.timeframe == "4h"
    assert coarse.attrs["registration"].group_was_new
    from nzeza.research.trials import describe

    assert "NEW GROUP" in describe(coarse.attrs["registration"])
    assert sorted(g["timeframe"] for g in groups(ledger)) == ["1h", "1h", "4h"]


def test_keep_returns_columns_are_the_rows_of_the_sorted_table(bars, ledger) -> None:
    table = sweep(SmaCross, bars, GRID, progress=False, ledger=ledger, keep_returns=True)
    returns = table.attrs["returns"]
    assert returns.dtype == np.float32 and returns.shape == (len(bars), len(table))
    assert table.attrs["index"].equals(bars.index)
    for j in (0, len(table) - 1):
        params = {"fast": int(table["fast"].iloc[j]), "slow": int(table["slow"].iloc[j])}
        single = backtest(SmaCross(**params), bars, ledger=ledger)
        np.testing.assert_allclose(returns[:, j], single.returns, rtol=1e-6, atol=1e-9)
    assert table.head(2).attrs["returns"] is returns  # shared, not deep-copied per operation


def test_opting_out_is_announced_and_registers_nothing(bars, ledger) -> None:
    with pytest.warns(UnregisteredRunWarning, match="cannot feed a verdict"):
        table = sweep(SmaCross, bars, GRID, progress=False, ledger=ledger, register=False)
    assert table.attrs["registration"] is None and table.attrs["registered"] is False
    with pytest.warns(UnregisteredRunWarning):
        result = backtest(SmaCross(), bars, ledger=ledger, register=False)
    assert result.registration is None
    with pytest.warns(UnregisteredRunWarning, match="no verdict"):
        wf = walk_forward(
            SmaCross, bars, GRID, 500, 250, progress=False, ledger=ledger, register=False
        )
    assert wf.verdict is None and wf.registration is None
    assert groups(ledger) == []


def test_an_unregistered_configuration_gets_no_verdict(bars, ledger) -> None:
    with pytest.warns(UnregisteredRunWarning):
        result = backtest(SmaCross(fast=7, slow=40), bars, ledger=ledger, register=False)
    with pytest.raises(ValidationError, match="is not a registered trial"):
        verdict(
            strategy=result.strategy,
            bars=bars,
            costs=result.costs,
            init_cash=result.init_cash,
            oos_returns=result.returns,
            oos_trades=100,
            stressed_sharpe=1.0,
            periods_per_year=8760,
            ledger=ledger,
        )


def test_the_configured_ledger_is_the_default(bars, tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'configured.sqlite'}"
    monkeypatch.setenv("NZEZA_LEDGER_URL", url)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # registering is silent
        result = backtest(SmaCross(fast=5, slow=40), bars, Costs(0.002, 0.0))
    assert result.registration.new == 1
    with Ledger(url) as led:
        [row] = group_rows(led, group_of(bars))
    assert row["source"] == "backtest" and row["costs"] == (
        '{"fee":0.002,"init_cash":10000.0,"slippage":0.0}'
    )


def test_custom_strategy_objects_are_trials_too(bars, ledger) -> None:
    from support.toy_strategies import SmaLike

    long_only = backtest(SmaLike(), bars, ledger=ledger).registration
    long_short = backtest(SmaLike(short=True), bars, ledger=ledger).registration
    assert long_only.group.family == "support.toy_strategies:SmaLike"
    assert (long_only.new, long_short.new, long_short.distinct) == (1, 1, 2)


def test_walk_forward_registers_its_grid_on_the_whole_data_set_only(bars, ledger) -> None:
    wf = walk_forward(SmaCross, bars, GRID, 500, 250, progress=False, ledger=ledger)
    [group] = groups(ledger)  # the folds are not groups of their own
    assert group["n_bars"] == len(bars) and group["distinct_trials"] == 7
    assert {r["source"] for r in group_rows(ledger, group_of(bars))} == {"validate"}
    assert wf.registration.new == 7 and wf.verdict.metrics["n_trials"] == 7
