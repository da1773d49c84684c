"""Sizing: the research rule in Decimal, and the optional volatility targeting on top of it."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.toy_strategies import SmaLike

from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.engine.parity import compare
from nzeza.engine.sizing import VolTargeting, size_target
from nzeza.errors import ValidationError

COSTS = Costs(0.001, 0.0005)


def test_scale_is_target_vol_over_realized_vol_capped_and_stepped() -> None:
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    vt = VolTargeting(target_vol=0.5, lookback=100, periods_per_year=8760, step=None)
    realized = np.diff(np.log(closes[-101:])).std(ddof=1) * math.sqrt(8760)
    assert vt.scale(1.0, closes) == pytest.approx(min(1.0, 0.5 / realized))
    assert vt.scale(-1.0, closes) == pytest.approx(-min(1.0, 0.5 / realized))
    low = VolTargeting(target_vol=0.05, lookback=100, periods_per_year=8760, step=0.1)
    expect = round(0.05 / realized / 0.1) * 0.1
    assert low.scale(1.0, closes) == pytest.approx(expect)
    assert vt.scale(1.0, closes[:100]) == 0.0  # not enough history: flat
    assert vt.scale(0.0, closes) == 0.0
    assert vt.scale(1.0, np.full(200, 100.0)) == 0.0  # no volatility estimate: flat


@settings(max_examples=100, deadline=None)
@given(
    st.floats(-1, 1),
    st.floats(0.01, 5),
    st.lists(st.floats(-0.05, 0.05), min_size=30, max_size=60),
)
def test_scaled_target_is_always_within_bounds(target, vol, rets) -> None:
    closes = 100 * np.exp(np.cumsum(rets))
    out = VolTargeting(target_vol=vol, lookback=20).scale(target, closes)
    assert -1.0 <= out <= 1.0
    assert out == 0 or np.sign(out) == np.sign(target)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"target_vol": 0}, "target_vol"),
        ({"target_vol": 0.5, "lookback": 1}, "vol_lookback"),
        ({"target_vol": 0.5, "max_leverage": 2}, "max_leverage"),
        ({"target_vol": 0.5, "periods_per_year": -1}, "periods_per_year"),
        ({"target_vol": 0.5, "step": 0}, "step"),
    ],
)
def test_bad_vol_targeting_names_the_field(kw, field) -> None:
    with pytest.raises(ValidationError) as err:
        VolTargeting(**kw)
    assert err.value.field == field


class VolTargeted:
    """The research side of the same rule: SmaLike's targets scaled bar by bar."""

    def __init__(self, inner, vt: VolTargeting) -> None:
        self.inner, self.vt = inner, vt
        self.params = {"inner": "SmaLike", "target_vol": vt.target_vol}

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return self.vt.scale_series(self.inner.target(bars), bars["close"])


def test_engine_vol_targeting_equals_the_backtest_of_the_scaled_targets(hourly) -> None:
    bars = hourly.iloc[:900]
    vt = VolTargeting(target_vol=0.3, lookback=48, periods_per_year=8760)
    strategy = SmaLike(short=True)
    engine = replay(strategy, bars, COSTS, 10_000, vol_targeting=vt, windowed=True)
    report = compare(VolTargeted(strategy, vt), bars, COSTS, 10_000)
    assert report.ok, str(report)
    assert len(engine.fills) > 10
    assert engine.final_equity == pytest.approx(report.research_final_equity, rel=1e-9)
    # and it is not a no-op: unscaled, the same strategy trades other sizes
    plain = replay(strategy, bars, COSTS, 10_000)
    assert plain.final_equity != pytest.approx(engine.final_equity, rel=1e-6)


def test_sizing_all_in_long_buys_cash_over_price_with_costs() -> None:
    order = size_target(Decimal(1), Decimal(0), Decimal(10_000), Decimal(100), COSTS)
    assert order is not None and order.side == "buy"
    expected = Decimal(10_000) / (1 + COSTS.fee_dec) / (Decimal(100) * (1 + COSTS.slippage_dec))
    assert abs(order.quantity - expected) < Decimal("1e-18")
    assert size_target(Decimal(0), Decimal(0), Decimal(10_000), Decimal(100), COSTS) is None
    flip = size_target(Decimal(-1), Decimal(2), Decimal(0), Decimal(100), COSTS)
    assert flip is not None and flip.side == "sell" and flip.quantity == Decimal(4)
