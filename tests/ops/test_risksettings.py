"""The risk section of the settings: on by default, read from NZEZA_RISK__*, shown by
`config show`, recorded as plain values, and every loosening named."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from nzeza.errors import ConfigError
from nzeza.ops.risksettings import DEFAULT_RISK, RiskSettings, loosened, risk_config_record
from nzeza.ops.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.upper().startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_limits_are_on_by_default() -> None:
    risk = load_settings().risk
    assert risk.max_order_notional == "250%" and risk.max_position_notional == "150%"
    assert risk.max_daily_loss == "5%" and risk.flatten_on_daily_loss
    assert risk.max_slippage_bps == 50 and risk.price_band_bps == 500
    assert (risk.max_open_positions, risk.max_open_orders, risk.max_orders_per_second) == (
        1,
        20,
        10,
    )
    assert risk.on_breach == "twap" and risk.account_fraction == Decimal("0.5")
    assert not risk.stops_on


def test_environment_sets_amounts_shares_and_off(monkeypatch) -> None:
    monkeypatch.setenv("NZEZA_RISK__MAX_ORDER_NOTIONAL", "1000")
    monkeypatch.setenv("NZEZA_RISK__MAX_POSITION_NOTIONAL", "80%")
    monkeypatch.setenv("NZEZA_RISK__MAX_DAILY_LOSS", "off")
    monkeypatch.setenv("NZEZA_RISK__PRICE_BAND_BPS", "none")
    monkeypatch.setenv("NZEZA_RISK__STOP_LOSS", "0.02")
    monkeypatch.setenv("NZEZA_RISK__ON_BREACH", "amend")
    risk = load_settings().risk
    assert risk.max_order_notional == "1000" and risk.max_position_notional == "80%"
    assert risk.max_daily_loss is None and risk.price_band_bps is None
    assert risk.stop_loss == Decimal("0.02") and risk.on_breach == "amend" and risk.stops_on


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NZEZA_RISK__MAX_ORDER_NOTIONAL", "-5%"),
        ("NZEZA_RISK__MAX_ORDER_NOTIONAL", "lots"),
        ("NZEZA_RISK__MAX_DAILY_LOSS", "nan"),
        ("NZEZA_RISK__MAX_OPEN_ORDERS", "2.5"),
        ("NZEZA_RISK__STOP_LOSS", "1.5"),
        ("NZEZA_RISK__ACCOUNT_FRACTION", "2"),
        ("NZEZA_RISK__ON_BREACH", "ignore"),
    ],
)
def test_a_bad_limit_names_its_variable(monkeypatch, variable, value) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.variable == variable
    assert value in str(err.value) or "twap, amend or reject" in str(err.value)


def test_record_is_plain_values() -> None:
    rec = risk_config_record(RiskSettings(max_order_notional="1000", price_band_bps="off"))
    assert rec["max_order_notional"] == "1000" and rec["price_band_bps"] is None
    assert rec["max_position_notional"] == "150%" and rec["max_open_orders"] == "20"
    assert rec["flatten_on_daily_loss"] is True
    assert set(rec) == set(RiskSettings.model_fields)
    assert risk_config_record() == risk_config_record(DEFAULT_RISK)


def test_loosened_names_each_limit_looser_than_its_default() -> None:
    equity = Decimal(10_000)
    assert loosened(DEFAULT_RISK, equity) == []
    tight = RiskSettings(max_order_notional="1000", stop_loss="0.02", on_breach="reject")
    assert loosened(tight, equity) == []  # 1000 < 250% of 10,000; stops and reject tighten
    loose = RiskSettings(
        max_order_notional="1000000",
        max_daily_loss="off",
        max_orders_per_second="100",
        flatten_on_daily_loss=False,
        account_fraction="1",
    )
    assert loosened(loose, equity) == [
        ("max_order_notional", "250%", "1000000"),
        ("max_daily_loss", "5%", "off"),
        ("flatten_on_daily_loss", "True", "False"),
        ("max_orders_per_second", "10", "100"),
        ("account_fraction", "0.5", "1"),
    ]


def test_config_show_prints_the_risk_section(clean_env) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env["NZEZA_RISK__MAX_ORDER_NOTIONAL"] = "1000"
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "config", "show"],
        capture_output=True,
        text=True,
        env=env,
        cwd=clean_env,
    )
    assert out.returncode == 0, out.stderr
    lines = [line.split() for line in out.stdout.splitlines()]
    assert ["max_order_notional", "1000"] in lines
    assert ["max_position_notional", "150%", "of", "equity"] in lines
    assert ["stop_loss", "off"] in lines
