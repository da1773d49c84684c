"""Gate thresholds: from settings with floors; a flag may tighten, never loosen; a loosened
setting is recorded with the promotion it allowed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nzeza.cli import main
from nzeza.errors import ConfigError, ValidationError
from nzeza.ops.gatesettings import FLOORS, GateSettings
from nzeza.ops.settings import load_settings
from nzeza.promotion.policy import GatePolicy, policy_from


@pytest.fixture
def env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    return monkeypatch


def test_defaults_are_the_documented_ones() -> None:
    policy = policy_from()
    assert (policy.min_paper_bars, policy.min_paper_days, policy.max_pbo) == (500, 14.0, 0.2)
    assert policy == GatePolicy() and policy.loosened == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [("min_paper_bars", "99"), ("min_paper_days", "1"), ("max_pbo", "0.6")],
)
def test_settings_past_a_floor_do_not_load(env, name, value) -> None:
    env.setenv(f"NZEZA_GATES__{name.upper()}", value)
    with pytest.raises(ConfigError, match=f"NZEZA_GATES__{name.upper()}.*past its floor"):
        load_settings(require_live=False)


def test_settings_may_loosen_above_the_floor_and_it_is_recorded(env) -> None:
    env.setenv("NZEZA_GATES__MIN_PAPER_BARS", "200")
    env.setenv("NZEZA_GATES__MAX_PBO", "0.3")
    policy = policy_from(load_settings(require_live=False).gates)
    assert policy.min_paper_bars == 200 and policy.max_pbo == 0.3
    record = policy.record()
    assert record["loosened"] == {
        "min_paper_bars": {"default": 500.0, "given": 200.0},
        "max_pbo": {"default": 0.2, "given": 0.3},
    }


def test_a_flag_may_tighten() -> None:
    policy = policy_from(GateSettings(), {"min_paper_bars": 900, "max_tracking_error": 0.001})
    assert policy.min_paper_bars == 900 and policy.max_tracking_error == 0.001


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_paper_bars", 50),  # below the floor
        ("min_paper_bars", 400),  # above the floor, but looser than the settings
        ("min_paper_days", 3),
        ("max_tracking_error", 0.5),
        ("max_pbo", 0.9),
    ],
)
def test_a_flag_never_loosens(name, value) -> None:
    with pytest.raises(ValidationError) as err:
        policy_from(GateSettings(), {name: value})
    flag = "--" + name.replace("_", "-")
    assert err.value.field == flag and err.value.value == value
    assert f"floor for live: {FLOORS[name]:g}" in str(err.value)


def test_the_cli_refuses_a_loosening_flag_before_anything_runs(env, tmp_path, capsys) -> None:
    code = main(
        ["promote", "nb.ipynb", "--to", "live", "--min-paper-bars", "50", "--max-pbo", "0.1"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "--min-paper-bars" in err and "50" in err and "would loosen the gate" in err
    assert "floor for live: 100" in err
    assert not (tmp_path / "runs").exists()  # no ledger was opened


def test_loosened_settings_are_recorded_with_the_promotion(env, tmp_path) -> None:
    """The promotion row (on the audit chain) says which thresholds the settings loosened."""
    from nzeza.data import load_sample
    from nzeza.promotion import promote
    from nzeza.store import Ledger

    env.setenv("NZEZA_GATES__MIN_PAPER_BARS", "150")
    policy = policy_from(load_settings(require_live=False).gates)
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        decision = promote(
            Path(__file__).resolve().parents[2] / "notebooks" / "04_session.ipynb",
            "paper",
            ledger=ledger,
            bars=load_sample("btc_usd_1h").iloc[-300:],
            policy=policy,
        )
        row = ledger.promotions()[-1]
    thresholds = json.loads(row["binding"])["thresholds"]
    assert decision.record_id == row["id"]
    assert thresholds["min_paper_bars"] == 150
    assert thresholds["loosened"] == {"min_paper_bars": {"default": 500.0, "given": 150.0}}
