"""Parity: for every shipped strategy on the bundled data, the session engine's replay makes
the same trades (times, sides, prices, sizes) and final equity as the research backtest."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine.parity import compare
from nzeza.strategies import REGISTRY

COSTS = Costs(0.001, 0.0005)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_replay_equals_backtest_on_the_whole_sample(bars, name) -> None:
    report = compare(REGISTRY[name](), bars, COSTS, 10_000)
    assert report.ok, str(report)
    assert report.research_trades == report.engine_trades > 10
    print(f"\n{report}")


@pytest.mark.parametrize("name", ["sma_cross", "vol_target_momentum", "bollinger_reversion"])
def test_windowed_session_feed_equals_backtest(bars, name) -> None:
    """The strategy fed only its trailing window at each bar, as a live session feeds it."""
    report = compare(REGISTRY[name](), bars.iloc[-1500:], COSTS, 10_000, windowed=True)
    assert report.ok, str(report)


def test_parity_cli(tmp_path) -> None:
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
    assert "PARITY OK" in out.stdout and "research" in out.stdout
