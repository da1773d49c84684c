"""Sweeps, walk-forward and validate with a limit, post-only or stop order policy: each
combination through the order simulator, registered with the policy in its cost key."""

from __future__ import annotations

import json

import numpy as np

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.research import backtest, sweep, walk_forward
from nzeza.research.metrics import SWEEP_STATS
from nzeza.research.orders import OrderPolicy
from nzeza.store import Ledger
from nzeza.strategies import SmaCross

BARS = load_sample("btc_usd_1h").iloc[-1500:]
COSTS = Costs(maker=0.0002, taker=0.001, slippage=0.0005)
GRID = {"fast": [5, 10], "slow": [30, 60]}
LIMIT = OrderPolicy("limit", 0.001, 2)


def test_a_sweep_row_equals_the_backtest_of_its_combination_under_the_policy(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        table = sweep(SmaCross, BARS, GRID, COSTS, progress=False, ledger=ledger, orders=LIMIT)
        market = sweep(SmaCross, BARS, GRID, COSTS, progress=False, ledger=ledger)
        from nzeza.research.trials import data_fingerprint, timeframe_of
        from nzeza.store.trials import TrialGroup, group_rows
        from nzeza.strategies.identity import strategy_identity

        group = TrialGroup(
            strategy_identity(SmaCross).family, data_fingerprint(BARS), timeframe_of(BARS)
        )
        keys = {r["costs"] for r in group_rows(ledger, group)}
    assert table.attrs["n_trials"] == 4 and table.attrs["orders"] == LIMIT.record()
    for _, row in table.iterrows():
        params = {"fast": int(row["fast"]), "slow": int(row["slow"])}
        one = backtest(SmaCross(**params), BARS, COSTS, orders=LIMIT, register=False)
        for col in [*SWEEP_STATS, "trades", "exposure"]:
            a, b = float(row[col]), float(one.stats[col])
            assert (np.isnan(a) and np.isnan(b)) or a == b, (params, col, a, b)
    # the market sweep is another run: different numbers, another trial configuration
    assert not np.allclose(
        table.sort_values(["fast", "slow"])["final_equity"].to_numpy(),
        market.sort_values(["fast", "slow"])["final_equity"].to_numpy(),
    )
    # registered as backtest registers it: the policy in the cost key, apart from market's
    assert any('"orders"' in k and '"limit"' in k for k in keys)
    assert any('"orders"' not in k for k in keys)


def test_a_strategy_with_its_own_policy_is_swept_under_it() -> None:
    class LimitSma(SmaCross):
        orders = LIMIT

    own = sweep(LimitSma, BARS, GRID, COSTS, progress=False, register=False)
    given = sweep(SmaCross, BARS, GRID, COSTS, progress=False, register=False, orders=LIMIT)
    assert own.attrs["orders"] == LIMIT.record()
    assert own["final_equity"].tolist() == given["final_equity"].tolist()


def test_walk_forward_runs_the_policy_and_judges_its_own_trials(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        wf = walk_forward(
            SmaCross, BARS, GRID, 600, 300, costs=COSTS, progress=False, ledger=ledger,
            orders=LIMIT,
        )  # fmt: skip
    assert wf.judged.decision in ("KILL", "ITERATE", "SCALE")
    assert wf.judged.metrics["n_trials"] == 4
    # the out-of-sample returns are the policy's: a market walk-forward differs
    plain = walk_forward(SmaCross, BARS, GRID, 600, 300, costs=COSTS, progress=False,
                         register=False)  # fmt: skip
    assert not np.allclose(wf.returns.to_numpy(), plain.returns.to_numpy())


def test_validate_prints_a_verdict_for_a_limit_policy(tmp_path, capsys) -> None:
    from nzeza.cli import main

    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    args = ["validate", "sma_cross", "--grid", "fast=5,10", "slow=40", "--last", "1500",
            "--train", "600", "--test", "300", "--ledger", ledger]  # fmt: skip
    capsys.readouterr()
    assert main([*args, "--order-type", "limit", "--offset", "0.001", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["decision"] in ("KILL", "ITERATE", "SCALE") and doc["n_trials"] == 2


def test_the_sweep_command_runs_a_policy_and_refuses_it_on_dask(tmp_path, capsys) -> None:
    from nzeza.cli import main

    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    args = ["sweep", "sma_cross", "--grid", "fast=5,10", "slow=40", "--last", "800",
            "--ledger", ledger, "--order-type", "post_only", "--offset", "0.0005"]  # fmt: skip
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 combinations tried" in out and "trial registry: NEW GROUP" in out
    assert main([*args, "--scheduler", "processes"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "in this process" in err
