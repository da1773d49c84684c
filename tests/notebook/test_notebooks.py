"""The product notebooks under papermill: overridden parameters give different, correct outputs."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.research import backtest
from nzeza.strategies import get_strategy

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks"


def run(name: str, tmp: Path, **params) -> dict:
    metrics = tmp / f"{name}.metrics.json"
    pm.execute_notebook(
        str(NB / f"{name}.ipynb"),
        str(tmp / f"{name}.out.ipynb"),
        parameters={**params, "metrics_path": str(metrics)},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp),
    )
    return json.loads(metrics.read_text())


def test_every_notebook_is_numbered_and_has_a_parameters_cell() -> None:
    names = sorted(p.name for p in NB.glob("*.ipynb"))
    assert names == [
        "01_data.ipynb",
        "02_research.ipynb",
        "03_validate.ipynb",
        "04_session.ipynb",
        "05_live.ipynb",
        "06_dashboard.ipynb",
        "07_my_strategy.ipynb",
        "08_portfolio.ipynb",
        "09_perpetuals_and_orders.ipynb",
    ]
    for name in names:
        nb = nbformat.read(NB / name, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, name
        # no hidden state: execution counts run 1, 2, 3, ... top to bottom
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), name


def test_research_notebook_with_overridden_parameters_matches_the_library(tmp_path) -> None:
    default = run("02_research", tmp_path)
    params = {"period": 21, "lower": 25.0, "upper": 75.0, "short": True}
    over = run(
        "02_research",
        tmp_path,
        strategy="rsi_reversion",
        params=params,
        last_bars=24 * 200,
        fee=0.002,
    )
    assert over["strategy"] == "rsi_reversion" and over["p_period"] == 21
    assert over["sharpe"] != default["sharpe"]
    bars = load_sample("btc_usd_1h").iloc[-24 * 200 :]
    direct = backtest(get_strategy("rsi_reversion")(**params), bars, Costs(0.002, 0.0005), 10_000)
    assert over["sharpe"] == pytest.approx(direct.stats["sharpe"], rel=1e-12)
    assert over["trades"] == direct.stats["trades"]
    assert over["total_return"] == pytest.approx(direct.stats["total_return"], rel=1e-12)


def test_session_notebook_in_paper_mode_streams_the_capture(tmp_path) -> None:
    out = run(
        "04_session",
        tmp_path,
        mode="paper",
        feed="capture:binance_btcusdt",
        timeframe="5s",
        params={"fast": 5, "slow": 20},
        session_id="nbpaper",
        run_dir=str(tmp_path / "ledgers"),
    )
    assert out["mode"] == "paper" and out["bars"] == 130
    assert out["fills"] > 0
    assert (tmp_path / "ledgers" / "nbpaper.sqlite").exists()


def test_live_notebook_refuses_and_names_each_missing_gate(tmp_path) -> None:
    out = run("05_live", tmp_path, ledger_url=f"sqlite:///{tmp_path / 'l.sqlite'}")
    assert out["refused"] is True
    assert set(out["missing"].split(",")) == {"live settings", "promotion"}


def test_demo_quick_ends_with_a_report_and_executed_notebooks(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "demo", "--quick", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for stage in ("settings", "domain", "data", "research", "paper", "promote", "report"):
        assert f"[{stage}]" in out, out
    report = Path(re.search(r"report:\s+(\S+)", out).group(1))
    text = report.read_text()
    for section in (
        "1 · Data",
        "2 · Research",
        "3 · Verdicts in the ledger, with their reasons",
        "4 · Paper session",
        "Divergence from research",
        "5 · Promotion gates",
    ):
        assert section in text
    index = json.loads((tmp_path / "demo" / "research" / "index.json").read_text())
    assert len(index["runs"]) == 3 and all(r["status"] == "ok" for r in index["runs"])
    for r in index["runs"]:
        assert Path(r["notebook"]).exists() and Path(r["html"]).exists()
        assert r["metrics"]["decision"] in ("KILL", "ITERATE", "SCALE")
    # paper over the websocket against the research backtest of the same bars at the same
    # costs: equal trades, equity equal to float rounding (the session marks in Decimal)
    tracking = float(re.search(r"tracking error (\S+),", out).group(1))
    assert tracking < 1e-9, out
    matched, orders = map(int, re.search(r"(\d+)/(\d+) trades matched", out).groups())
    assert matched == orders
    # the shipped strategies, honestly judged, and the grid-of-one trick refused
    assert "KILL" in out
    one = re.search(
        r"grid of one .* (\w+) with (\d+) registered trials counted \(the sweep's (\d+)\)", out
    )
    assert one is not None, out
    assert int(one.group(2)) >= int(one.group(3)) > 1 and one.group(1) != "SCALE"
    assert "The grid-of-one trick" in text and "registered trial(s)" in text
    assert "jupyter lab" in out
    # the printed status command reads the demo's ledger (a bare `nzeza status` reads another)
    status = re.search(r"read it:\s+(.+)", out).group(1)
    shown = subprocess.run(shlex.split(status), capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "demo-paper" in shown.stdout
