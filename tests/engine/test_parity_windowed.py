"""The windowed parity gate catches what it exists to catch: a strategy that needs more history
than its `warmup` says, one that looks ahead, and one that differs only on the exact trailing
window a live session passes it; its progress bar changes nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine.parity import compare
from nzeza.strategies import SmaCross

COSTS = Costs(0.001, 0.0005)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").iloc[-800:]


class ShortWarmup(SmaCross):
    """SmaCross that claims half the history it needs."""

    @property
    def warmup(self) -> int:
        return self.slow // 2


class PeeksAhead(SmaCross):
    def target(self, bars: pd.DataFrame) -> pd.Series:
        return (bars["close"].shift(-1) > bars["close"]).astype(float)


class OtherOnTheLiveWindow(SmaCross):
    """Equal to SmaCross on every frame except a frame of exactly `warmup` bars ending at one
    chosen bar — the frame a live session passes there, and no other check does."""

    at: str = ""

    def target(self, bars: pd.DataFrame) -> pd.Series:
        out = super().target(bars)
        if len(bars) == self.warmup and str(bars.index[-1]) == self.at:
            out.iloc[-1] = 1.0 - out.iloc[-1]
        return out


def test_a_clean_strategy_passes(bars) -> None:
    assert compare(SmaCross(fast=10, slow=30), bars, COSTS, windowed=True).ok


def test_needing_more_history_than_the_warmup_is_caught(bars) -> None:
    report = compare(ShortWarmup(fast=10, slow=30), bars, COSTS, windowed=True)
    assert not report.ok
    assert compare(ShortWarmup(fast=10, slow=30), bars, COSTS, windowed=False).ok


def test_looking_ahead_is_caught(bars) -> None:
    assert not compare(PeeksAhead(), bars, COSTS, windowed=True).ok


def test_a_difference_on_one_live_window_is_caught(bars) -> None:
    at = str(bars.index[400])
    report = compare(OtherOnTheLiveWindow(fast=10, slow=30, at=at), bars, COSTS, windowed=True)
    assert not report.ok, "the gate must evaluate the strategy on the exact live window"
    assert compare(OtherOnTheLiveWindow(fast=10, slow=30, at=at), bars, COSTS).ok


def test_progress_is_shown_and_changes_nothing(bars, capsys) -> None:
    quiet = compare(SmaCross(), bars, COSTS, windowed=True)
    capsys.readouterr()
    shown = compare(SmaCross(), bars, COSTS, windowed=True, progress=True)
    err = capsys.readouterr().err
    assert "replay" in err and f"{len(bars)}/{len(bars)}" in err
    assert str(shown) == str(quiet)
