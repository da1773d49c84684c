"""Sweeps (vectorised, counted trials), verdicts (recorded, reasons with numbers), walk-forward."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import backtest, load_verdicts, sweep, verdict, walk_forward
from nzeza.strategies import SmaCross


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-8000:]


def test_sweep_equals_individual_backtests_and_counts_trials(bars) -> None:
    grid = {"fast": [5, 10, 20], "slow": [10, 30, 60]}
    table = sweep(SmaCross, bars, grid, Costs(), progress=False, chunk_size=4)
    assert table.attrs["n_trials"] == 7  # slow must exceed fast: (10, 10) and (20, 10) rejected
    assert table.attrs["rejected"] == 2
    row = table[(table["fast"] == 10) & (table["slow"] == 30)].iloc[0]
    single = backtest(SmaCross(fast=10, slow=30), bars, Costs())
    assert row["final_equity"] == pytest.approx(single.equity.iloc[-1], rel=1e-9)
    assert row["trades"] == single.stats["trades"]
    assert table["sharpe"].is_monotonic_decreasing


def test_constraint_and_bad_grid(bars) -> None:
    t = sweep(
        SmaCross,
        bars,
        {"fast": [5, 10], "slow": [20, 40]},
        constraint=lambda p: p["fast"] == 5,
        progress=False,
    )
    assert set(t["fast"]) == {5}
    with pytest.raises(ValidationError):
        sweep(SmaCross, bars, {"fast": []}, progress=False)


def test_verdict_kills_noise_and_scales_a_real_edge(tmp_path) -> None:
    idx = pd.date_range("2020", periods=20_000, freq="h", tz="UTC")
    rng = np.random.default_rng(3)
    noise = pd.Series(rng.normal(0, 0.01, len(idx)), idx)
    v = verdict(
        oos_returns=noise,
        oos_trades=400,
        n_trials=200,
        var_trials=0.0004,
        stressed_sharpe=-0.1,
        periods_per_year=8760,
        strategy="x",
        params={"a": 1},
        record_dir=tmp_path,
    )
    assert v.decision == "KILL"
    assert any("deflated Sharpe" in r for r in v.reasons)
    edge = pd.Series(rng.normal(0.0008, 0.004, len(idx)), idx)
    v2 = verdict(
        oos_returns=edge,
        oos_trades=400,
        n_trials=10,
        var_trials=1e-6,
        stressed_sharpe=1.0,
        periods_per_year=8760,
        strategy="x",
        params={"a": 2},
        record_dir=tmp_path,
    )
    assert v2.decision == "SCALE", v2.reasons
    with open(v2.record_path) as fh:
        doc = json.load(fh)
    assert doc["decision"] == "SCALE" and doc["params"] == {"a": 2} and doc["code_version"]
    assert [d["decision"] for d in load_verdicts("x", record_dir=tmp_path)] == ["KILL", "SCALE"]
    few = verdict(
        oos_returns=edge,
        oos_trades=5,
        n_trials=10,
        var_trials=1e-6,
        stressed_sharpe=1.0,
        periods_per_year=8760,
        record_dir=None,
    )
    assert few.decision == "ITERATE" and any("only 5" in r for r in few.reasons)


def test_walk_forward_stitches_out_of_sample(bars, tmp_path) -> None:
    wf = walk_forward(
        SmaCross,
        bars,
        {"fast": [5, 10], "slow": [30, 60]},
        train=2000,
        test=1000,
        progress=False,
        record_dir=str(tmp_path),
    )
    assert len(wf.windows) == 6
    assert wf.returns.index.is_unique and len(wf.returns) == 6000
    assert wf.returns.index[0] == bars.index[2000]
    assert wf.n_trials == 4
    assert wf.verdict is not None and wf.verdict.decision in ("KILL", "ITERATE", "SCALE")
    assert wf.verdict.record_path
