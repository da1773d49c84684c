"""Papermill-friendly parameters: `params` as a JSON string or a mapping, a strategy alone with
its own defaults, and bad values named in the first cell. The notebooks run from their source
(tests/support/notebook_source.py) with small data windows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest
from support.notebook_source import source_notebook

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.notebook import use_parameters
from nzeza.research import backtest
from nzeza.strategies import get_strategy


def run(name: str, tmp: Path, **params: object) -> dict:
    nb = source_notebook(name, tmp / "src")
    metrics = tmp / f"{name}.metrics.json"
    pm.execute_notebook(
        str(nb),
        str(tmp / f"{name}.out.ipynb"),
        parameters={**params, "metrics_path": str(metrics)},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp),
    )
    return json.loads(metrics.read_text())


# -- the helper ---------------------------------------------------------------------------


def test_params_as_json_string_or_mapping_complete_the_strategy_defaults() -> None:
    for given in ('{"window": 30}', {"window": 30}):
        ns = {"strategy": "bollinger_reversion", "params": given}
        use_parameters(ns)
        assert ns["params"] == {"window": 30, "k": 2.0, "short": True}


def test_strategy_alone_uses_its_own_defaults() -> None:
    for empty in ({}, None, "", "{}"):
        ns = {"strategy": "donchian_breakout", "params": empty}
        use_parameters(ns)
        assert ns["params"] == dict(get_strategy("donchian_breakout")().params)


def test_strings_from_papermill_r_are_read_as_numbers() -> None:
    ns = {"last_bars": "500", "fee": "0.002", "train": 100.0}
    use_parameters(ns)
    assert ns == {"last_bars": 500, "fee": 0.002, "train": 100}


@pytest.mark.parametrize(
    ("namespace", "field"),
    [
        ({"strategy": "sma_cross", "params": "{fast: 5}"}, "params"),  # not JSON
        ({"strategy": "sma_cross", "params": "[5, 30]"}, "params"),  # JSON, not an object
        ({"strategy": "sma_cross", "params": 5}, "params"),
        ({"strategy": "bollinger_reversion", "params": {"fast": 10}}, "fast"),
        ({"strategy": "sma_cross", "params": {"fast": "ten"}}, "fast"),
        ({"strategy": "no_such"}, "strategy"),
        ({"strategy": 3}, "strategy"),
        ({"strategy": "sma_cross", "grid": '{"window": [10]}'}, "grid.window"),
        ({"strategy": "sma_cross", "grid": '{"fast": []}'}, "grid.fast"),
        ({"last_bars": "24*90"}, "last_bars"),
        ({"last_bars": 0}, "last_bars"),
        ({"bars_count": True}, "bars_count"),
        ({"fee": 1.5}, "fee"),
        ({"slippage": "nan"}, "slippage"),
        ({"fees": "okx"}, "fees"),
        ({"fees": 3}, "fees"),
    ],
)
def test_bad_parameters_are_named(namespace: dict, field: str) -> None:
    before = dict(namespace)
    with pytest.raises(ValidationError) as err:
        use_parameters(namespace)
    assert err.value.field == field
    assert namespace == before  # nothing half-normalised


def test_fees_names_a_venue_whose_schedule_costs_the_runs() -> None:
    from nzeza.domain import Costs
    from nzeza.notebook import notebook_costs

    for empty in (None, "", "  "):
        ns = {"fee": 0.002, "slippage": 0.0005, "fees": empty}
        use_parameters(ns)
        assert ns["fees"] is None
        assert notebook_costs(ns["fee"], ns["slippage"], ns["fees"]) == Costs(0.002, 0.0005)
    ns = {"fee": 0.002, "slippage": 0.0003, "fees": " DYDX "}
    use_parameters(ns)
    assert ns["fees"] == "dydx"
    costs = notebook_costs(ns["fee"], ns["slippage"], ns["fees"])
    assert (costs.maker, costs.taker, costs.slippage) == (0.0001, 0.0005, 0.0003)


def test_grid_as_json_string() -> None:
    ns = {"strategy": "sma_cross", "grid": '{"fast": [5, 10], "slow": 40}'}
    use_parameters(ns)
    assert ns["grid"] == {"fast": [5, 10], "slow": [40]}
    ns = {"strategy": "sma_cross", "grid": None}
    use_parameters(ns)
    assert ns["grid"] is None  # the strategy's own search space


# -- the notebooks under papermill ----------------------------------------------------------


def test_papermill_cli_params_json_string(tmp_path: Path) -> None:
    """The command from the issue: `papermill ... -p params '{"window": 30}'`."""
    nb = source_notebook("02_research", tmp_path / "src")
    metrics = tmp_path / "m.json"
    cmd = [sys.executable, "-m", "papermill", str(nb), str(tmp_path / "out.ipynb")]
    cmd += ["-p", "strategy", "bollinger_reversion", "-p", "params", '{"window": 30}']
    cmd += ["-p", "last_bars", "1500", "-p", "metrics_path", str(metrics), "--cwd", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(metrics.read_text())
    assert (got["strategy"], got["p_window"], got["p_k"], got["p_short"]) == (
        "bollinger_reversion",
        30,
        2.0,
        True,
    )
    bars = load_sample("btc_usd_1h").iloc[-1500:]
    direct = backtest(get_strategy("bollinger_reversion")(window=30), bars, Costs(0.001, 0.0005))
    assert got["sharpe"] == pytest.approx(direct.stats["sharpe"], rel=1e-12)


def test_research_notebook_strategy_alone(tmp_path: Path) -> None:
    got = run("02_research", tmp_path, strategy="rsi_reversion", last_bars=1500)
    assert got["strategy"] == "rsi_reversion"
    assert (got["p_period"], got["p_lower"], got["p_upper"]) == (14, 30.0, 70.0)


def test_session_notebook_strategy_alone(tmp_path: Path) -> None:
    got = run(
        "04_session",
        tmp_path,
        strategy="bollinger_reversion",
        bars_count=600,
        run_dir=str(tmp_path / "runs"),
    )
    assert got["strategy"] == "bollinger_reversion" and got["bars"] == 600 and got["fills"] > 0


def test_validate_notebook_grid_as_json_string(tmp_path: Path) -> None:
    got = run(
        "03_validate",
        tmp_path,
        grid='{"fast": [5, 10], "slow": [40, 80]}',
        last_bars=2000,
        train=600,
        test=300,
        verdict_dir=str(tmp_path / "verdicts"),
    )
    assert got["strategy"] == "sma_cross"
    assert set(json.loads(got["params"])) == {"fast", "slow"}


def test_a_bad_parameter_stops_the_notebook_at_its_first_cell(tmp_path: Path) -> None:
    with pytest.raises(pm.PapermillExecutionError) as err:
        run("02_research", tmp_path, strategy="sma_cross", params="{fast: 5}")
    assert err.value.ename == "ValidationError"
    assert "invalid params='{fast: 5}'" in err.value.evalue
    assert "use_parameters(globals())" in err.value.source  # the first cell after the parameters
