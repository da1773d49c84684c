"""The live check is the promotion layer's, handed to the engine: without it no live session
starts, and with it `open_session` refuses a run no promotion binds before building anything."""

from __future__ import annotations

import asyncio
import os

import pytest

from nzeza.domain import Costs
from nzeza.engine.runner import SessionPlan, open_session
from nzeza.errors import LiveTradingNotAllowed
from nzeza.ops.settings import load_settings
from nzeza.promotion.live_check import check_plan
from nzeza.strategies import SmaCross


@pytest.fixture
def settings(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NZEZA_RUNS_DIR", str(tmp_path / "runs"))
    return load_settings(require_live=False)


def plan(tmp_path) -> SessionPlan:
    strategy = SmaCross(fast=5, slow=20)
    return SessionPlan(
        mode="live",
        strategy=strategy,
        strategy_name="sma_cross",
        params=dict(strategy.params),
        costs=Costs(),
        timeframe="1h",
        ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite'}",
    )


def start(p: SessionPlan, settings, **kw) -> None:
    async def run() -> None:
        async with open_session(p, settings, **kw):
            raise AssertionError("a live session was assembled")

    asyncio.run(run())


def test_a_live_session_without_the_live_check_does_not_start(tmp_path, settings) -> None:
    with pytest.raises(LiveTradingNotAllowed, match="no live check was given"):
        start(plan(tmp_path), settings)


def test_the_live_check_names_every_gate_for_the_plan(tmp_path, settings) -> None:
    with pytest.raises(LiveTradingNotAllowed) as err:
        start(plan(tmp_path), settings, live_check=check_plan)
    reasons = err.value.reasons
    assert any(r.startswith("NZEZA_LIVE_CONFIRM") for r in reasons)
    assert any("promotion gate: sma_cross" in r for r in reasons)
