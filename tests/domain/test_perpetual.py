from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nzeza.domain import Instrument, MarginTier, Perpetual, funding_payment, liquidation_price
from nzeza.domain.perpetual import margin_ratio, position_equity
from nzeza.errors import ValidationError

D = Decimal


def perp(venue: str = "binance", **kw) -> Perpetual:
    return Perpetual(venue, "BTC/USDT:USDT", "BTC", "USDT", D("0.1"), D("0.001"), **kw)


def test_kind_and_venue_funding_intervals() -> None:
    assert perp().kind == "perpetual"
    assert Instrument("binance", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.001")).kind == "spot"
    assert perp("binance").funding_interval_hours == 8
    assert perp("dydx").funding_interval_hours == 1
    assert perp("hyperliquid").funding_interval_hours == 1
    assert perp("hyperliquid").funding_interval_ns == 3_600_000_000_000
    assert perp("okx", funding_interval_hours=4).funding_interval_hours == 4
    assert perp().initial_margin_rate == D("0.05")  # 1 / 20×


def test_issue_funding_case_long_pays_10_short_receives_10() -> None:
    # long 2 BTC-PERP at mark 50,000 across a +0.01 % funding time
    assert funding_payment(D(2), D(50_000), D("0.0001")) == D(-10)
    assert funding_payment(D(-2), D(50_000), D("0.0001")) == D(10)
    assert funding_payment(2.0, 50_000.0, 0.0001) == pytest.approx(-10.0, abs=1e-12)


def test_hand_computed_liquidation_price_of_a_10x_long() -> None:
    # 10× long: 1,000 USDT of collateral behind 1 BTC bought at 10,000; mmr 0.5 %
    # P = (q·E − C) / (q·(1 − mmr)) = (10,000 − 1,000) / 0.995 = 9,045.226130653266...
    p = perp(max_leverage=D(20), maintenance_margin_rate=D("0.005"))
    price = p.liquidation_price(D(1), D(10_000), D(1_000))
    assert price == D(9_000) / D("0.995")
    assert str(price)[:13] == "9045.22613065"
    # the short's mirror: P = (C + |q|·E) / (|q|·(1 + mmr)) = 11,000 / 1.005
    assert p.liquidation_price(D(-1), D(10_000), D(1_000)) == D(11_000) / D("1.005")
    # fully collateralised long: never liquidated; flat: no price
    assert p.liquidation_price(D(1), D(10_000), D(10_000)) is None
    assert p.liquidation_price(D(0), D(10_000), D(1_000)) is None


def test_maintenance_tiers_pick_the_bracket_of_the_liquidation_notional() -> None:
    tiers = [(50_000, "0.004", 0), (250_000, "0.005", 50), (1_000_000, "0.01", 1_300)]
    p = perp(tiers=tiers)
    assert p.tiers[1] == MarginTier(D(250_000), D("0.005"), D(50))
    assert p.maintenance_margin(D(1), D(40_000)) == D(160)  # tier 1: 0.4 %
    assert p.maintenance_margin(D(2), D(50_000)) == D(450)  # tier 2: 100k × 0.5 % − 50
    # 10 BTC long at 20,000 with 20,000 collateral: (200k − 20k − 50) / (10 × 0.995) in tier 2
    price = p.liquidation_price(D(10), D(20_000), D(20_000))
    assert price == (D(200_000) - D(20_000) - D(50)) / (D(10) * D("0.995"))
    assert D(50_000) < 10 * price <= D(250_000)
    equity = position_equity(D(10), D(20_000), D(20_000), price)
    assert abs(equity - p.maintenance_margin(D(10), price)) < D("1e-18")


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"max_leverage": 0}, "max_leverage"),
        ({"max_leverage": -5}, "max_leverage"),
        ({"maintenance_margin_rate": D("0.05")}, "maintenance_margin_rate"),  # = imr (20×)
        ({"maintenance_margin_rate": D("0.2")}, "maintenance_margin_rate"),
        ({"maintenance_margin_rate": 0}, "maintenance_margin_rate"),
        ({"initial_margin_rate": D("0.01")}, "initial_margin_rate"),  # 100× above a 20× max
        ({"initial_margin_rate": D(2), "max_leverage": 1}, "initial_margin_rate"),
        ({"funding_interval_hours": 0}, "funding_interval_hours"),
        ({"funding_interval_hours": 1.5}, "funding_interval_hours"),
        ({"tiers": [(100, "0.01", 0), (50, "0.02", 0)]}, "tiers"),
        ({"tiers": [(100, "0.02", 0), (500, "0.01", 0)]}, "tiers"),
        ({"tiers": [(100, "0.06", 0)]}, "tiers"),  # above the initial rate
        ({"tiers": [(100, "-0.01", 0)]}, "tier.rate"),
        ({"contract_size": 0}, "contract_size"),
    ],
)
def test_bad_specs_get_typed_errors(kw, field) -> None:
    with pytest.raises(ValidationError) as err:
        perp(**kw)
    assert err.value.field == field


def test_unknown_venue_needs_a_funding_interval() -> None:
    with pytest.raises(ValidationError, match="funding_interval_hours"):
        perp("okx")


@pytest.mark.parametrize("leverage", [0, -1, D("20.5"), 100])
def test_leverage_outside_zero_to_max_is_refused(leverage) -> None:
    with pytest.raises(ValidationError) as err:
        perp().check_leverage(leverage)
    assert err.value.field == "leverage"
    assert perp().check_leverage(10) == D(10)


def test_flat_position_has_no_margin_ratio() -> None:
    with pytest.raises(ValidationError):
        margin_ratio(D(0), D(1), D(1), D(1))


sizes = st.decimals(min_value=D("0.001"), max_value=D(1000), places=3)
prices = st.decimals(min_value=D(1), max_value=D(100_000), places=2)
rates = st.decimals(min_value=D("0.001"), max_value=D("0.04"), places=4)
funding_rates = st.decimals(min_value=D("-0.01"), max_value=D("0.01"), places=6)
leverages = st.integers(min_value=2, max_value=20)


@given(sizes, prices, rates, leverages)
def test_a_long_at_its_liquidation_price_has_margin_ratio_maintenance(q, entry, mmr, lev):
    collateral = q * entry / lev
    price = liquidation_price(q, entry, collateral, mmr)
    assert price is not None and 0 < price < entry
    with localcontext() as ctx:
        ctx.prec = 28
        assert abs(margin_ratio(q, entry, collateral, price) - mmr) < D("1e-20")
    # one tick above, it is not yet at maintenance; below, it is under
    assert margin_ratio(q, entry, collateral, price * D("1.001")) > mmr
    assert margin_ratio(q, entry, collateral, price * D("0.999")) < mmr


@given(sizes, prices, rates, leverages)
def test_a_short_at_its_liquidation_price_has_margin_ratio_maintenance(q, entry, mmr, lev):
    collateral = q * entry / lev
    price = liquidation_price(-q, entry, collateral, mmr)
    assert price is not None and price > entry
    assert abs(margin_ratio(-q, entry, collateral, price) - mmr) < D("1e-20")
    assert margin_ratio(-q, entry, collateral, price * D("0.999")) > mmr


@given(sizes, prices, funding_rates)
def test_funding_of_a_long_and_a_short_of_the_same_size_sums_to_zero(q, mark, rate):
    assert funding_payment(q, mark, rate) + funding_payment(-q, mark, rate) == 0
    # a long pays a positive rate
    if rate > 0:
        assert funding_payment(q, mark, rate) < 0
