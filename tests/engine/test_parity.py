"""Parity: for every shipped strategy on the bundled data, the session engine's replay makes
the same trades (times, sides, status, prices, sizes, pnl, fees) and final equity as the research
backtest, to 1e-9 relative, and returns them in the same shape."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.engine.parity import compare
from nzeza.research import backtest
from nzeza.strategies import REGISTRY
from nzeza.strategies.technical import SHIPPED

COSTS = Costs(0.001, 0.0005)


def bundled_series() -> dict[str, pd.DataFrame]:
    """Every single-instrument OHLCV series in the bundled samples."""
    out = {"btc_usd_1h": load_sample("btc_usd_1h")}
    out["coinbase_btc_usd_1h"] = load_sample("coinbase_btc_usd_1h")
    daily = load_sample("bitstamp_1d")  # columns (asset, field)
    for asset in sorted({a for a, _ in daily.columns}):
        out[f"bitstamp_1d_{asset.lower()}"] = daily[asset].dropna()
    return out


SERIES = bundled_series()


def test_the_registry_is_every_shipped_strategy() -> None:
    assert set(REGISTRY) == {cls.name for cls in SHIPPED}
    assert len(REGISTRY) >= 6


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("series", sorted(SERIES))
def test_replay_equals_backtest_on_every_bundled_series(series, name) -> None:
    bars = SERIES[series]
    report = compare(REGISTRY[name](), bars, COSTS, 10_000)
    assert report.ok, str(report)
    assert report.research_trades == report.engine_trades > 0
    if series == "btc_usd_1h":
        assert report.engine_trades > 10


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_windowed_session_feed_equals_backtest(name) -> None:
    """The strategy fed only its trailing window at each bar, as a live session feeds it."""
    bars = SERIES["btc_usd_1h"].iloc[-1500:]
    report = compare(REGISTRY[name](), bars, COSTS, 10_000, windowed=True)
    assert report.ok, str(report)


def test_replay_result_has_the_backtest_shape() -> None:
    bars = SERIES["btc_usd_1h"].iloc[-2000:]
    strategy = REGISTRY["sma_cross"]()
    research = backtest(strategy, bars, COSTS, 10_000)
    engine = replay(strategy, bars, costs=COSTS, init_cash=10_000)
    assert list(engine.trades.columns) == list(research.trades.columns)
    assert engine.trades.dtypes.astype(str).tolist() == research.trades.dtypes.astype(str).tolist()
    assert engine.trades["status"].tolist() == research.trades["status"].tolist()
    assert engine.equity.name == research.equity.name == "equity"
    assert engine.equity.index.equals(research.equity.index)
    assert len(engine.closed_trades) + len(engine.open_trades) == len(engine.trades)


def test_a_real_difference_is_reported(monkeypatch) -> None:
    """The comparison can fail: slightly other costs on the engine side break parity."""
    import sys

    module = sys.modules["nzeza.engine.replay"]  # `compare` imports `replay` from it at call time
    original = module.replay

    def off_by_a_bit(strategy, bars, costs, init_cash, **kw):
        return original(strategy, bars, Costs(costs.fee * 1.01, costs.slippage), init_cash, **kw)

    monkeypatch.setattr(module, "replay", off_by_a_bit)
    report = compare(REGISTRY["sma_cross"](), SERIES["btc_usd_1h"].iloc[-2000:], COSTS, 10_000)
    assert not report.ok
    assert any("final equity" in m for m in report.mismatches)
    assert any("pnl or fees" in m for m in report.mismatches)
    assert "PARITY FAILED" in str(report)


def test_parity_cli() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            "parity",
            "sma_cross",
            "--params",
            "fast=10",
            "slow=30",
            "--bars",
            "3000",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "PARITY OK" in out.stdout and "research" in out.stdout and "engine" in out.stdout
