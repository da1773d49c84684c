"""A notebook's live gates are the CLI's: every reason `nzeza live` refuses on shows as a FAIL."""

from __future__ import annotations

import os

import pytest

from nzeza.domain import Costs
from nzeza.notebook.live import live_gates
from nzeza.ops.settings import LIVE_CONFIRMATION, load_settings
from nzeza.promotion.live_check import live_binding, live_problems
from nzeza.store import open_ledger
from nzeza.strategies import SmaCross


@pytest.fixture
def env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    return monkeypatch


def failures(gates) -> str:
    return "; ".join(g.detail for g in gates if not g.passed)


@pytest.mark.parametrize(
    "settings_env",
    [
        {},
        {"NZEZA_LIVE_CONFIRM": LIVE_CONFIRMATION, "NZEZA_LIVE_VENUE": "kraken"},
        {
            "NZEZA_LIVE_CONFIRM": LIVE_CONFIRMATION,
            "NZEZA_LIVE_VENUE": "binance",
            "NZEZA_BINANCE__API_KEY": "K" * 64,
            "NZEZA_BINANCE__API_SECRET": "S" * 64,
            "NZEZA_BINANCE__REST_URL": "http://127.0.0.1:9",
        },
    ],
)
def test_notebook_fails_exactly_the_gates_the_cli_refuses_on(env, tmp_path, settings_env):
    for key, value in settings_env.items():
        env.setenv(key, value)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    params = {"fast": 5, "slow": 20}
    gates = live_gates("sma_cross", params, ledger_url=url)
    with open_ledger(url) as ledger:
        settings = load_settings(require_live=False)
        now = live_binding(
            settings, SmaCross(**params), symbol="BTCUSDT", timeframe="5s", costs=Costs()
        )
        cli = live_problems(settings, ledger, now, "sma_cross")
    assert cli, "every case here lacks at least the promotion"
    assert failures(gates) == "; ".join(cli)
    assert [g.name for g in gates] == ["live settings", "promotion", "ledger integrity"]


def test_a_venue_without_its_credentials_fails_the_settings_gate(env, tmp_path):
    """Every venue has a session feed now (before: kraken failed this gate with "live sessions
    read their trades from binance only"); what it lacks here is its credentials."""
    env.setenv("NZEZA_LIVE_CONFIRM", LIVE_CONFIRMATION)
    env.setenv("NZEZA_LIVE_VENUE", "kraken")
    gates = live_gates("sma_cross", {"fast": 5}, ledger_url=f"sqlite:///{tmp_path / 'l.sqlite'}")
    settings = next(g for g in gates if g.name == "live settings")
    assert not settings.passed
    assert "NZEZA_KRAKEN__API_KEY is missing" in settings.detail
    assert "binance only" not in settings.detail


def test_a_setting_that_does_not_load_fails_its_gate_and_the_promotion_is_still_checked(
    env, tmp_path
):
    env.setenv("NZEZA_LIVE_VENUE", "nasdaq")
    gates = live_gates("sma_cross", {"fast": 5}, ledger_url=f"sqlite:///{tmp_path / 'l.sqlite'}")
    assert [(g.name, g.passed) for g in gates] == [
        ("live settings", False),
        ("promotion", False),
        ("ledger integrity", True),  # a new ledger's chain verifies
    ]
    assert "NZEZA_LIVE_VENUE" in gates[0].detail
