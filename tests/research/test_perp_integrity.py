"""Research integrity for perpetuals: sweeps, walk-forward and `nzeza validate` run the strategy
through `backtest_perp`, and register their trials with the perpetual's terms in the key
exactly as `backtest_perp` does."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from support.perp_cases import btc_perp

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research import walk_forward
from nzeza.research.perp import PerpSetup, backtest_perp
from nzeza.research.perp_sweep import sweep_perp
from nzeza.store import Ledger
from nzeza.store import schema as s
from nzeza.strategies import SmaCross

COSTS = Costs(0.0004, 0.0002)
GRID = {"fast": [5, 10], "slow": [20, 40]}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-400:]


def funding_of(bars: pd.DataFrame, rate: float) -> pd.Series:
    """A constant rate at every 8 h funding time inside the bars."""
    times = pd.date_range(bars.index[0].ceil("8h"), bars.index[-1], freq="8h")
    return pd.Series(rate, index=times, name="funding_rate")


def test_a_sweep_row_is_backtest_perp_of_its_combination_and_the_same_trial(bars, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'trials.sqlite'}"
    perp = PerpSetup(btc_perp(), 3, funding_of(bars, 0.0001))
    table = sweep_perp(SmaCross, bars, GRID, perp, COSTS, 10_000, progress=False, ledger=url)
    assert table.attrs["n_trials"] == 4 and table.attrs["registration"].new == 4
    for _, row in table.iterrows():
        params = {"fast": int(row["fast"]), "slow": int(row["slow"])}
        single = backtest_perp(
            SmaCross(**params), bars, btc_perp(), COSTS, 10_000, leverage=3,
            funding=perp.funding, ledger=url,
        )  # fmt: skip
        assert single.registration.new == 0, params  # the sweep registered this very trial
        st = single.stats
        for col in ("total_return", "sharpe", "max_drawdown", "final_equity", "trades"):
            assert row[col] == pytest.approx(st[col], rel=1e-12, nan_ok=True), (params, col)
        assert row["funding_paid"] == pytest.approx(single.funding_paid, rel=1e-12)
        assert row["funding_received"] == pytest.approx(single.funding_received, rel=1e-12)
        assert row["liquidations"] == len(single.liquidations)
    assert table["funding_paid"].gt(0).any()  # longs across +0.01 % funding pay
    # another leverage is another trial (the terms are in the key), as for backtest_perp
    other = sweep_perp(
        SmaCross, bars, GRID, PerpSetup(btc_perp(), 2, perp.funding), COSTS, 10_000,
        progress=False, ledger=url,
    )  # fmt: skip
    assert other.attrs["registration"].new == 4
    with Ledger(url) as led, led.engine.connect() as conn:
        keys = set(conn.execute(select(s.trials.c.costs)).scalars())
    assert len(keys) == 2 and all(json.loads(k)["perp"]["venue"] == "binance" for k in keys)
    with pytest.raises(ValidationError, match="leverage"):
        PerpSetup(btc_perp(), 50)


def test_walk_forward_as_a_perpetual_has_funding_in_its_oos_returns(bars, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'wf.sqlite'}"
    runs = {}
    for rate in (0.0, 0.001):
        perp = PerpSetup(btc_perp(), 2, funding_of(bars, rate))
        runs[rate] = walk_forward(
            SmaCross, bars, GRID, 200, 60, costs=COSTS, progress=False, ledger=url, perp=perp
        )
    zero, paid = runs[0.0], runs[0.001]
    assert (zero.windows["oos_funding"] == 0).all()
    assert paid.windows["oos_funding"].lt(0).any()  # longs paid funding out of sample
    # the same parameters chosen in each window (funding changes returns, not the signals
    # here), and the out-of-sample returns lower by what was paid
    assert paid.returns.sum() < zero.returns.sum()
    for wf in (zero, paid):
        assert wf.judged.decision in ("KILL", "ITERATE", "SCALE")
        assert "oos_liquidations" in wf.windows.columns
    # each run's verdict is on its own trials: 4 combinations per funding history
    assert paid.registration.new == 4 and zero.registration.new == 4
    with Ledger(url) as led, led.engine.connect() as conn:
        verdict_keys = list(conn.execute(select(s.verdicts.c.costs)).scalars())
    assert all('"perp"' in k for k in verdict_keys) and len(set(verdict_keys)) == 2
    with pytest.raises(ValidationError, match="perp"):
        from nzeza.strategies import CrossSectionalMomentum

        walk_forward(CrossSectionalMomentum, bars, {}, 200, 60, ledger=url, perp=perp)


def test_validate_and_sweep_commands_run_the_perpetual(bars, tmp_path) -> None:
    data = tmp_path / "bars.csv"
    bars.rename_axis("timestamp").to_csv(data)
    funding = tmp_path / "funding.csv"
    f = funding_of(bars, 0.0005)
    pd.DataFrame({"ts": f.index, "funding_rate": f.to_numpy()}).to_csv(funding, index=False)
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    common = ["sma_cross", "--data", str(data), "--grid", "fast=5,10", "slow=20,40",
              "--perp", "binance", "--funding", str(funding), "--leverage", "2",
              "--ledger", ledger]  # fmt: skip

    def cli(*argv):
        return subprocess.run(
            [sys.executable, "-m", "nzeza.cli", *argv], capture_output=True, text=True,
            cwd=tmp_path,
        )  # fmt: skip

    out = cli("validate", *common, "--train", "200", "--test", "60", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["decision"] in ("KILL", "ITERATE", "SCALE")
    assert doc["perp"]["venue"] == "binance" and doc["perp"]["leverage"] == 2.0
    assert doc["perp"]["oos_funding"] < 0 and doc["perp"]["oos_liquidations"] >= 0
    text = cli("validate", *common, "--train", "200", "--test", "60")
    assert text.returncode == 0, text.stderr
    assert "perpetual (binance, 2×" in text.stdout and "liquidations" in text.stdout
    assert any(w in text.stdout for w in ("KILL", "ITERATE", "SCALE"))
    out = cli("sweep", *common)
    assert out.returncode == 0, out.stderr
    assert "funding_paid" in out.stdout and "4 combinations tried" in out.stdout
    bad = cli("sweep", *common, "--scheduler", "processes")
    assert bad.returncode == 2 and "--scheduler" in bad.stderr and "Traceback" not in bad.stderr
    assert np.isfinite(doc["n_trials"])
