"""Every planted leak is caught; every shipped strategy passes."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.research import check_lookahead
from nzeza.strategies import REGISTRY, Strategy


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-3000:]


class ShiftLeak(Strategy):
    def target(self, bars):
        return (bars["close"].shift(-1) > bars["close"]).astype(float)


class CenteredLeak(Strategy):
    def target(self, bars):
        m = bars["close"].rolling(21, center=True).mean()
        return (bars["close"] > m).astype(float)


class NormalisedLeak(Strategy):
    def target(self, bars):
        z = (bars["close"] - bars["close"].mean()) / bars["close"].std()
        return (z > 0).astype(float)


class BackfillLeak(Strategy):
    def target(self, bars):
        s = bars["close"].rolling(50).mean().bfill()
        return (bars["close"] > s).astype(float)


@pytest.mark.parametrize("leak", [ShiftLeak, CenteredLeak, NormalisedLeak, BackfillLeak])
def test_planted_leaks_are_caught(bars, leak) -> None:
    report = check_lookahead(leak(), bars)
    assert not report.ok
    assert report.first_offending_timestamp is not None
    assert "LOOKAHEAD" in str(report)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_shipped_strategies_pass(bars, name) -> None:
    report = check_lookahead(REGISTRY[name](), bars, n_cuts=20)
    assert report.ok, str(report)
