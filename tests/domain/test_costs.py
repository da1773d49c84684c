"""Maker and taker fees, tiers, and the single-rate `Costs(fee, slippage)` every caller uses."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nzeza.domain import MIN_MAKER, Costs
from nzeza.errors import ValidationError
from nzeza.promotion.binding import differences, run_binding
from nzeza.strategies import SmaCross


def test_single_rate_costs_are_what_they_were() -> None:
    c = Costs(0.001, 0.0005)
    assert (c.fee, c.taker, c.maker, c.slippage) == (0.001, 0.001, 0.001, 0.0005)
    assert c == Costs() == Costs(fee=0.001, slippage=0.0005)
    assert c.single_rate and c.record() == {"fee": 0.001, "slippage": 0.0005}
    assert c.fee_for(1000.0) == c.fee_for(1000.0, "maker") == 1.0
    assert c.scaled(2) == Costs(0.002, 0.001)


def test_maker_and_taker_per_fill() -> None:
    c = Costs(maker=0.0002, taker=0.0005, slippage=0.0001)
    assert c.fee == c.taker == 0.0005 and c.rate("maker") == 0.0002
    assert c.fee_for(Decimal(1000)) == Decimal("0.5000")
    assert c.fee_for(Decimal(1000), "maker") == Decimal("0.2000")
    assert c.record() == {"fee": 0.0005, "slippage": 0.0001, "maker": 0.0002}
    assert Costs.from_record(c.record()) == c
    with pytest.raises(ValidationError) as err:
        c.fee_for(1.0, "both")
    assert err.value.field == "liquidity"


def test_a_rebate_down_to_the_floor_and_not_below() -> None:
    c = Costs(maker=-0.0001, taker=0.0004)
    assert c.fee_for(Decimal(10_000), "maker") == Decimal("-1.0000")  # paid to the trader
    assert Costs(maker=MIN_MAKER, taker=0.0004).maker == -0.0005
    with pytest.raises(ValidationError) as err:
        Costs(maker=-0.001, taker=0.0004)
    assert err.value.field == "maker" and err.value.value == -0.001
    with pytest.raises(ValidationError) as err:
        Costs(taker=-0.0001)  # only the maker side gets rebates
    assert err.value.field == "taker"
    # stressing costs never deepens a rebate
    assert Costs(maker=-0.0002, taker=0.0004).scaled(2).maker == -0.0001


def test_maker_above_taker_is_allowed() -> None:
    assert Costs(maker=0.0006, taker=0.0004).maker == 0.0006


def test_fee_and_taker_cannot_disagree() -> None:
    assert Costs(0.0005, taker=0.0005).fee == 0.0005
    with pytest.raises(ValidationError) as err:
        Costs(0.001, taker=0.0005)
    assert err.value.field == "taker"


@pytest.mark.parametrize("bad", [True, None, [], "x", float("nan"), float("inf"), 0.2])
def test_bad_rates_are_typed_errors(bad) -> None:
    with pytest.raises(ValidationError) as err:
        Costs(maker=bad if bad is not None else [], taker=0.001)
    assert err.value.field == "maker"


def test_tiers_choose_by_volume() -> None:
    c = Costs(tiers=((0, 0.001, 0.001), (1_000_000, 0.0008, 0.0009), (5e6, -0.0001, 0.0007)))
    assert (c.maker, c.fee) == (0.001, 0.001)  # tiers alone: the first tier
    assert (c.for_volume(0).maker, c.for_volume(0).fee) == (0.001, 0.001)
    assert (c.for_volume(999_999.99).fee, c.for_volume(1e6).fee) == (0.001, 0.0009)
    assert (c.for_volume(7e6).maker, c.for_volume(7e6).fee) == (-0.0001, 0.0007)
    assert Costs(0.001).for_volume(1e9) == Costs(0.001)
    with pytest.raises(ValidationError) as err:
        c.for_volume(-1)
    assert err.value.field == "volume_30d"


@pytest.mark.parametrize(
    "tiers",
    [
        ((1, 0.001, 0.001),),  # does not start at 0
        ((0, 0.001, 0.001), (0, 0.0008, 0.0009)),  # not increasing
        ((0, 0.001),),  # not a triple
        ((0, 0.001, 0.5),),  # a taker rate that is a unit mistake
        ((float("nan"), 0.001, 0.001),),
        5,
    ],
)
def test_bad_tiers_are_typed_errors(tiers) -> None:
    with pytest.raises(ValidationError) as err:
        Costs(tiers=tiers)
    assert err.value.field in ("tiers", "maker", "taker")


def _binding(costs: Costs) -> dict:
    return run_binding(SmaCross(), symbol="BTCUSDT", venue="paper", timeframe="1h", costs=costs)


def test_single_rate_bindings_are_unchanged_and_maker_is_bound() -> None:
    old = _binding(Costs(0.001, 0.0005))
    assert "maker" not in old and "tiers" not in old  # what promotions before this stored
    assert differences(old, _binding(Costs(0.001, 0.0005))) == []
    now = _binding(Costs(maker=0.0002, taker=0.001, slippage=0.0005))
    assert differences(old, now) == ["maker: promoted off, now 0.0002"]
