"""Sweeps (vectorised, counted trials), verdicts (recorded, reasons with numbers), walk-forward."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import backtest, decide, load_verdicts, sweep, walk_forward
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


def evidence(matrix: np.ndarray, n_trials: int | None = None, var: float | None = None):
    """The registry's evidence on a group, built from a constructed T×N trial matrix."""
    from nzeza import stats as st
    from nzeza.research.verdict import Evidence
    from nzeza.store.trials import TrialGroup

    sharpes = matrix.mean(axis=0) / matrix.std(axis=0, ddof=1)
    ev = Evidence(
        TrialGroup("tests:X", "d" * 16, "1h"),
        n_trials if n_trials is not None else matrix.shape[1],
        var if var is not None else float(np.var(sharpes, ddof=1)) if matrix.shape[1] > 1 else 0,
    )
    if matrix.shape[1] > 1:
        ev.pbo = st.pbo(matrix)
    else:
        ev.pbo_note = "the group has 1 distinct trial"
    ev.cpcv = st.cpcv(matrix, embargo=len(matrix) // 100)
    return ev


def test_verdict_kills_noise_and_scales_a_real_edge() -> None:
    idx = pd.date_range("2020", periods=20_000, freq="h", tz="UTC")
    rng = np.random.default_rng(3)
    noise_trials = rng.normal(0, 0.01, (20_000, 40))
    noise = pd.Series(noise_trials[:, 0], idx)
    v = decide(
        oos_returns=noise,
        oos_trades=400,
        stressed_sharpe=-0.1,
        periods_per_year=8760,
        evidence=evidence(noise_trials, 200, 0.0004),
    )
    assert v.decision == "KILL"
    assert any("deflated Sharpe" in r and "200 registered trial(s)" in r for r in v.reasons)
    assert any("overfitting" in r for r in v.reasons)
    edge_trials = rng.normal(0, 0.004, (20_000, 10))
    edge_trials[:, 0] += 0.0008
    edge = pd.Series(edge_trials[:, 0], idx)
    v2 = decide(
        oos_returns=edge,
        oos_trades=400,
        stressed_sharpe=1.0,
        periods_per_year=8760,
        evidence=evidence(edge_trials, 10, 1e-6),
    )
    assert v2.decision == "SCALE", v2.reasons
    assert v2.metrics["pbo"] < 0.2 and v2.metrics["cpcv_quantile_sharpe_annual"] > 0
    few = decide(
        oos_returns=edge,
        oos_trades=5,
        stressed_sharpe=1.0,
        periods_per_year=8760,
        evidence=evidence(edge_trials, 10, 1e-6),
    )
    assert few.decision == "ITERATE" and any("only 5" in r for r in few.reasons)


def test_scale_needs_pbo_below_its_threshold_and_a_positive_cpcv_tail() -> None:
    idx = pd.date_range("2020", periods=20_000, freq="h", tz="UTC")
    rng = np.random.default_rng(8)
    edge_trials = rng.normal(0, 0.004, (20_000, 10))
    edge_trials[:, 0] += 0.0008
    edge = pd.Series(edge_trials[:, 0], idx)
    kw = dict(oos_returns=edge, oos_trades=400, stressed_sharpe=1.0, periods_per_year=8760)
    # one trial: no PBO can be measured, so no SCALE, and the verdict says why
    alone = decide(**kw, evidence=evidence(edge_trials[:, :1]))
    assert alone.decision == "ITERATE" and alone.metrics["pbo"] is None
    assert any("overfitting not measurable" in r and "1 distinct trial" in r for r in alone.reasons)
    # the edge trial among noise that beats it in-sample half the time: PBO high → ITERATE
    rival = edge_trials.copy()
    rival[:, 1:] = rng.normal(0, 0.004, (20_000, 9))
    rival[:10_000, 1:] += 0.0012  # strong in the first half, nothing after
    high = decide(**kw, evidence=evidence(rival))
    assert high.metrics["pbo"] >= 0.2, high.metrics["pbo"]
    assert high.decision == "ITERATE" and any("probability of backtest" in r for r in high.reasons)
    # a CPCV tail at or below zero is not SCALE either (policy.cpcv_quantile = 5%)
    weak = rng.normal(0, 0.004, (20_000, 1))
    weak -= weak.mean() + 1e-5  # every path of a single trial is that trial: Sharpe < 0
    tail = decide(**kw, evidence=evidence(weak))
    assert tail.metrics["cpcv_quantile_sharpe_annual"] <= 0
    assert any(r.startswith("CPCV: the 5% quantile") and "≤ 0" in r for r in tail.reasons)


def test_walk_forward_stitches_out_of_sample_and_records_its_verdict(bars, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    wf = walk_forward(
        SmaCross,
        bars,
        {"fast": [5, 10], "slow": [30, 60]},
        train=2000,
        test=1000,
        progress=False,
        ledger=url,
    )
    assert len(wf.windows) == 6
    assert wf.returns.index.is_unique and len(wf.returns) == 6000
    assert wf.returns.index[0] == bars.index[2000]
    assert wf.n_trials == 4 and wf.combinations == 4
    assert wf.verdict is not None and wf.verdict.decision in ("KILL", "ITERATE", "SCALE")
    assert wf.verdict.id == 1
    rows = load_verdicts(SmaCross, ledger=url)
    assert [r["id"] for r in rows] == [1] and rows[0]["n_trials"] == 4
    assert rows[0]["decision"] == wf.verdict.decision and rows[0]["reasons"] == wf.verdict.reasons
