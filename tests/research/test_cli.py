"""The research commands, as a user runs them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from nzeza import stats
from nzeza.cli.research import parse_grid
from nzeza.errors import ValidationError
from nzeza.research import load_verdicts
from nzeza.strategies import SmaCross


def nzeza(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_grid_specs() -> None:
    assert parse_grid(["fast=5:20:5", "slow=40,80"]) == {"fast": [5, 10, 15, 20], "slow": [40, 80]}
    with pytest.raises(ValidationError):
        parse_grid(["fast=5:20:0"])


def test_backtest_and_validate_commands(tmp_path) -> None:
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    out = nzeza(
        "backtest",
        "sma_cross",
        "--params",
        "fast=10",
        "slow=30",
        "--last",
        "3000",
        "--html",
        str(tmp_path / "r.html"),
        "--ledger",
        ledger,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "sharpe" in out.stdout and (tmp_path / "r.html").stat().st_size > 100_000
    assert "trial registry: NEW GROUP nzeza.strategies.technical:SmaCross" in out.stdout
    out = nzeza(
        "validate",
        "sma_cross",
        "--grid",
        "fast=5,10",
        "slow=40,80",
        "--last",
        "6000",
        "--train",
        "2000",
        "--test",
        "1000",
        "--ledger",
        ledger,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "VERDICT:" in out.stdout and "(ledger verdict #1)" in out.stdout
    assert not (tmp_path / "runs" / "verdicts").exists()  # the ledger is the only record
    [row] = load_verdicts(SmaCross, ledger=ledger)
    assert row["id"] == 1 and row["n_trials"] == 4


def test_bad_strategy_and_params_are_named() -> None:
    out = nzeza("backtest", "nope")
    assert out.returncode == 2 and "strategy" in out.stderr and "Traceback" not in out.stderr
    out = nzeza("backtest", "sma_cross", "--params", "fast=50", "slow=10")
    assert out.returncode == 2 and "slow" in out.stderr and "Traceback" not in out.stderr


def in_process(capsys, *args: str) -> tuple[int, str]:
    """`nzeza ARGS` through the CLI's own entry point, in this process (no import cost)."""
    from nzeza.cli import main

    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


def validate_json(capsys, ledger: str, *grid: str) -> dict:
    code, out = in_process(
        capsys,
        "validate",
        "sma_cross",
        "--grid",
        *grid,
        "--last",
        "3000",
        "--train",
        "1000",
        "--test",
        "500",
        "--ledger",
        ledger,
        "--json",
    )
    assert code == 0
    return json.loads(out)  # exactly one JSON object on stdout


def test_a_grid_of_one_after_a_sweep_inherits_the_sweeps_trial_count(tmp_path, capsys) -> None:
    """The bypass: `validate sma_cross` (a sweep) then `validate sma_cross --grid fast=10
    slow=80` was deflated as "1 trial". The registry counts every trial of the group."""
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    swept = validate_json(capsys, ledger, "fast=5,10", "slow=40,80")
    assert swept["n_trials"] == 4 and swept["registration"]["group_was_new"]
    one = validate_json(capsys, ledger, "fast=10", "slow=80")
    assert one["n_trials"] == 4, one["reasons"]
    assert one["registration"] == {**one["registration"], "new": 0, "group_was_new": False}
    assert any("4 registered trial(s)" in r for r in one["reasons"])
    # deflated by the group's 4 trials and their Sharpe variance, not by 1
    m = one["metrics"]
    sr, n, skew, kurt = (m[k] for k in ("oos_sharpe_per_period", "n_obs", "skew", "kurtosis"))
    assert one["var_trials"] == swept["var_trials"] > 0
    assert one["deflated_sharpe"] == pytest.approx(
        stats.deflated_sharpe_ratio(sr, 4, one["var_trials"], n, skew, kurt), rel=1e-12
    )
    as_if_alone = stats.deflated_sharpe_ratio(sr, 1, one["var_trials"], n, skew, kurt)
    assert one["deflated_sharpe"] < as_if_alone
    assert one["pbo"] is not None and 0 <= one["pbo"] <= 1  # PBO over the group's 4 trials
    assert one["verdict_id"] == swept["verdict_id"] + 1
    # a configuration outside the sweep is a fifth trial of the same group
    five = validate_json(capsys, ledger, "fast=7", "slow=80")
    assert five["n_trials"] == 5 and five["registration"]["new"] == 1


def test_trials_command_lists_groups_and_counts(tmp_path, capsys) -> None:
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    for last in ("2000", "2500"):  # two slices of data: two groups
        code, out = in_process(
            capsys,
            "sweep",
            "sma_cross",
            "--grid",
            "fast=5,10",
            "slow=40,80",
            "--last",
            last,
            "--ledger",
            ledger,
        )
        assert code == 0 and "NEW GROUP" in out
    code, out = in_process(capsys, "trials", "--json", "--ledger", ledger)
    doc = json.loads(out)
    assert code == 0 and doc["n_groups"] == 2 and doc["n_trials"] == 8
    assert {g["n_bars"] for g in doc["groups"]} == {2000, 2500}
    for g in doc["groups"]:
        assert g["family"] == "nzeza.strategies.technical:SmaCross" and g["timeframe"] == "1h"
        assert g["distinct_trials"] == 4 and math.isfinite(g["sharpe_variance"])
    code, out = in_process(capsys, "trials", "--strategy", "donchian_breakout", "--ledger", ledger)
    assert code == 0 and "no trials registered" in out
    code, out = in_process(capsys, "trials", "--strategy", "sma_cross", "--ledger", ledger)
    assert code == 0 and "2 group(s), 8 distinct trial(s)" in out


def test_validate_accepts_a_module_class_strategy(tmp_path) -> None:
    (tmp_path / "mine.py").write_text(
        "from nzeza.strategies import SmaCross\n\n\nclass Mine(SmaCross):\n    name = 'mine'\n"
    )
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    args = ["mine:Mine", "--grid", "fast=5,10", "slow=40", "--last", "2000"]
    args += ["--train", "1000", "--test", "500", "--ledger", ledger, "--json"]
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "validate", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])},
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["family"] == "mine:Mine" and doc["n_trials"] == 2
    assert doc["identity"].startswith("mine:Mine@")


def test_walk_forward_windows_fit_the_data_when_not_given() -> None:
    from nzeza.cli.research import TEST, TRAIN, windows_for

    assert windows_for(40_000, None, None) == (TRAIN, TEST)  # a year of hourly bars and more
    assert windows_for(3_000, None, None) == (1_200, 600)  # 40 % to train, three 20 % tests
    assert windows_for(2_700, None, 100) == (200, 100)  # a test window given: train twice it
    assert windows_for(500, 300, 50) == (300, 50)  # given: as given


def test_validate_a_short_daily_series_without_window_flags(tmp_path) -> None:
    """Daily bars (bitstamp_1d's BTC: ~2,700 bars) once failed with `invalid train=4320`: the
    hourly defaults did not fit. The windows now scale to the data and say so."""
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    args = ["validate", "sma_cross", "--sample", "bitstamp_1d", "--symbol", "BTC"]
    out = nzeza(*args, "--grid", "fast=5,10", "slow=40", "--ledger", ledger)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "walk-forward windows: train" in out.stdout and "VERDICT:" in out.stdout


def test_walk_forward_windows_show_parameters_as_the_strategy_took_them() -> None:
    """A sweep table's best row is all floats; the windows table said `fast 10.0`."""
    import warnings

    from nzeza.data import load_sample
    from nzeza.domain import Costs
    from nzeza.research import walk_forward

    bars = load_sample("btc_usd_1h").iloc[-3000:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wf = walk_forward(
            SmaCross, bars, {"fast": [5, 10], "slow": [40]}, 1200, 600, register=False,
            costs=Costs(0.001, 0.0005), progress=False,
        )  # fmt: skip
    assert str(wf.windows["fast"].dtype) == "int64" and wf.windows["slow"].tolist() == [40] * 3


def test_backtest_with_limit_orders_and_maker_taker_fees(tmp_path, capsys) -> None:
    from nzeza.cli import main

    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    base = ["backtest", "sma_cross", "--last", "800", "--ledger", ledger]
    assert main(base) == 0
    args = [*base, "--order-type", "post_only", "--offset", "0.0005", "--ttl", "2"]
    assert main([*args, "--maker-fee", "-0.0001", "--taker-fee", "0.0005"]) == 0
    out = capsys.readouterr().out
    assert "post_only orders (offset 0.0005, ttl 2):" in out and "maker" in out
    assert "taker" not in out.split("post_only orders")[1].split("\n")[0]  # never takes
    # the trial registry keeps the two runs apart: costs and order policy are in its key
    import sqlite3

    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        keys = [json.loads(r[0]) for r in conn.execute("SELECT costs FROM trials ORDER BY id")]
    assert keys[0] == {"fee": 0.001, "slippage": 0.0005, "init_cash": 10_000.0}  # as before
    assert keys[1]["maker"] == -0.0001 and keys[1]["fee"] == 0.0005
    assert keys[1]["orders"] == {"kind": "post_only", "offset": 0.0005, "ttl": 2}


def test_fees_venue_reaches_the_backtest(tmp_path, capsys) -> None:
    """`--fees dydx` runs the backtest with dYdX's base-tier maker and taker rates: the same
    run, print and trial key as typing those rates; each fill pays its liquidity's rate."""
    import sqlite3

    from nzeza.cli import main

    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    base = ["backtest", "sma_cross", "--last", "800", "--ledger", ledger]
    base += ["--order-type", "limit", "--offset", "0.0005", "--ttl", "2"]
    assert main([*base, "--fees", "dydx"]) == 0
    by_venue = capsys.readouterr().out
    assert main([*base, "--maker-fee", "0.0001", "--taker-fee", "0.0005"]) == 0
    typed = capsys.readouterr().out

    def body(out: str) -> list[str]:
        return [line for line in out.splitlines() if "registry:" not in line]

    assert body(by_venue) == body(typed) and "maker" in by_venue and "taker" in by_venue
    assert "0 new row(s)" in typed  # the typed rates are the same trial configuration
    assert main([*base[:6]]) == 0  # today's default: a single rate of 10 bps
    capsys.readouterr()
    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        keys = [json.loads(r[0]) for r in conn.execute("SELECT costs FROM trials ORDER BY id")]
    assert len(keys) == 2 and keys[0]["maker"] == 0.0001 and keys[0]["fee"] == 0.0005
    assert keys[1] == {"fee": 0.001, "slippage": 0.0005, "init_cash": 10_000.0}
    # a higher tier by --fees-volume: 5M of 30-day volume is dYdX's 0.5 / 4.0 bps tier
    assert main([*base, "--fees", "dydx", "--fees-volume", "5e6"]) == 0
    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        last = json.loads(conn.execute("SELECT costs FROM trials ORDER BY id DESC").fetchone()[0])
    assert (last["maker"], last["fee"]) == (0.00005, 0.0004)


def test_venue_costs_are_paid_per_fill_by_liquidity() -> None:
    import warnings

    from nzeza.data import load_sample
    from nzeza.domain import Costs
    from nzeza.research import backtest
    from nzeza.research.orders import OrderPolicy

    bars = load_sample("btc_usd_1h").iloc[-1500:]
    costs = Costs.for_venue("hyperliquid", 30_000_000)  # tier 2: 0.8 / 3.5 bps
    assert (costs.maker, costs.taker) == (0.00008, 0.00035)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unregistered: this run only checks the fees
        r = backtest(SmaCross(), bars, costs, orders=OrderPolicy("limit", 0.001, 2), register=False)
    filled = r.orders[r.orders["status"] == "filled"]
    maker = filled["liquidity"] == "maker"
    assert maker.any() and (~maker).any()
    rates = filled["fee"] / (filled["size"] * filled["fill_price"])
    assert rates[maker].to_numpy() == pytest.approx(0.00008, rel=1e-9)
    assert rates[~maker].to_numpy() == pytest.approx(0.00035, rel=1e-9)
