"""Risk limits are validated at start-up: inconsistent limits are a ConfigError."""

from __future__ import annotations

from decimal import Decimal

import pytest
from risk.riskkit import BTC, INSTRUMENTS

from nzeza.errors import ConfigError
from nzeza.risk import RiskConfig, RiskEngine

D = Decimal


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"max_order_qty": 0}, "risk.max_order_qty"),
        ({"max_order_notional": "-1"}, "risk.max_order_notional"),
        ({"max_net_exposure": 200, "max_gross_exposure": 100}, "risk.max_net_exposure"),
        ({"max_order_notional": 201, "max_gross_exposure": 100}, "risk.max_order_notional"),
        ({"max_order_qty": 3, "position_limits": {BTC.id: 2}}, "risk.max_order_qty"),
        ({"position_limits": {BTC.id: 0}}, f"risk.position_limits[{BTC.id}]"),
        ({"position_limits": {"x:Y/Z": 1}}, "risk.position_limits[x:Y/Z]"),
        ({"max_open_orders": 0}, "risk.max_open_orders"),
        ({"max_open_positions": 1.5}, "risk.max_open_positions"),
        ({"max_orders_per_window": 5, "rate_window_s": 0}, "risk.rate_window_s"),
        ({"on_slippage_breach": "ignore"}, "risk.on_slippage_breach"),
        ({"daily_loss_period": "week"}, "risk.daily_loss_period"),
        ({"flatten_on_daily_loss": True}, "risk.flatten_on_daily_loss"),
        ({"checks": ("max_order_qty", "max_order_qty")}, "risk.checks"),
        ({"checks": ("vibes",)}, "risk.checks"),
        ({"price_band_bps": "abc"}, "risk.price_band_bps"),
    ],
)
def test_bad_limits_fail_at_start_up(kwargs, variable):
    with pytest.raises(ConfigError) as err:
        RiskEngine(RiskConfig(**kwargs), INSTRUMENTS)
    assert err.value.variable == variable


def test_consistent_limits_at_their_boundaries_are_fine():
    cfg = RiskConfig(
        max_order_qty=D(2),
        position_limits={BTC.id: D(2)},
        max_order_notional=D(100),
        max_gross_exposure=D(100),
        max_net_exposure=D(100),
    )
    assert RiskEngine(cfg, INSTRUMENTS).config is cfg


def test_from_mapping_normalises_and_rejects_unknown_keys():
    cfg = RiskConfig.from_mapping({"max_order_qty": "1.5", "max_slippage_bps": 25.5})
    assert cfg.max_order_qty == D("1.5") and cfg.max_slippage_bps == D("25.5")
    with pytest.raises(ConfigError) as err:
        RiskConfig.from_mapping({"max_order_qtty": 1})
    assert err.value.variable == "risk.max_order_qtty"


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"on_size_breach": "clip"}, "risk.on_size_breach"),
        ({"max_order_qty": "5%"}, "risk.max_order_qty"),
        ({"price_band_bps": "5%"}, "risk.price_band_bps"),
        ({"max_order_notional": "abc%"}, "risk.max_order_notional"),
        ({"max_order_notional": "-5%"}, "risk.max_order_notional"),
        ({"max_net_exposure": "200%", "max_gross_exposure": "100%"}, "risk.max_net_exposure"),
    ],
)
def test_shares_of_equity_and_size_actions_are_validated(kwargs, variable) -> None:
    with pytest.raises(ConfigError) as err:
        RiskConfig(**kwargs).validate()
    assert err.value.variable == variable
