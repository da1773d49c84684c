"""Research integrity for portfolio strategies (issue 17): lookahead on the weights, sweeps
registered as trials of the panel's group, walk-forward with a verdict, the CLI commands."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.research import check_lookahead
from nzeza.strategies import CrossSectionalMomentum, PortfolioStrategy
from nzeza.strategies.portfolio import panel_field


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample("bitstamp_1d")


class PeekingMomentum(PortfolioStrategy):
    """Test double: long ETH on the bars before its close rises (it reads the next close)."""

    def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        close = panel_field(panel, "close")
        out = pd.DataFrame(0.0, index=panel.index, columns=close.columns)
        out["ETH"] = (close["ETH"].shift(-1) > close["ETH"]).astype(float)
        return out


def test_lookahead_refuses_a_peeking_portfolio_strategy_naming_bar_and_symbol(panel) -> None:
    report = check_lookahead(PeekingMomentum(), panel, n_cuts=20)
    assert not report.ok
    assert report.symbol == "ETH"
    cut = report.cut_at
    assert cut is not None and report.first_offending_timestamp == cut  # the cut's own bar
    # on the full history the weight at that bar knew the next close; truncated it could not
    close = panel[("ETH", "close")]
    i = panel.index.get_loc(cut)
    assert report.full_value == float(close.iloc[i + 1] > close.iloc[i])
    assert report.truncated_value == 0.0
    assert "LOOKAHEAD" in str(report) and "weight of ETH" in str(report)


def test_lookahead_passes_the_shipped_portfolio_strategy(panel) -> None:
    for params in ({}, {"lookback": 30, "top": 2, "rebalance": 7}):
        report = check_lookahead(CrossSectionalMomentum(**params), panel, n_cuts=20)
        assert report.ok, str(report)
        assert report.symbol is None


def test_lookahead_command_on_a_panel(capsys) -> None:
    from nzeza.cli import main

    capsys.readouterr()
    code = main(["lookahead", "cross_sectional_momentum", "--sample", "bitstamp_1d"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "bitstamp_1d (BTC, ETH, LTC)" in out and "lookahead check passed" in out
