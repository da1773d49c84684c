"""Gates for perpetuals: a promotion binds the perpetual's terms (a live session on other terms
is refused), the verdict gate wants a verdict on those terms, and parity compares the engine's
perpetual replay with `backtest_perp`, funding amounts included."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from types import SimpleNamespace

import pandas as pd
import pytest
from support.perp_cases import btc_perp

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine import parity
from nzeza.engine.runner import PerpTerms
from nzeza.errors import LiveTradingNotAllowed
from nzeza.promotion.binding import run_binding
from nzeza.promotion.gates import _perp_binding, perp_verdict_gate, verdict_gate
from nzeza.promotion.live_check import live_binding, require_live_promotion
from nzeza.promotion.records import GateResult, evaluate, record
from nzeza.research import walk_forward
from nzeza.research.perp import PerpSetup
from nzeza.store import Ledger
from nzeza.strategies import BollingerReversion, SmaCross

D = Decimal
COSTS = Costs(0.0005, 0.0002)
LIVE = SimpleNamespace(live_venue="binance", risk=None)  # settings as the live check reads them


def funding_of(bars: pd.DataFrame, rate: float) -> pd.Series:
    times = pd.date_range(bars.index[0].ceil("8h"), bars.index[-1], freq="8h")
    return pd.Series(rate, index=times, name="funding_rate")


def passing() -> GateResult:
    return GateResult("p", True, "ok")


def promoted(setup: PerpSetup | None) -> dict:
    """A live promotion's binding, as `promote(..., perp=setup)` makes it."""
    return run_binding(
        SmaCross(fast=5, slow=20), symbol="BTCUSDT", venue="binance", timeframe="1h",
        costs=COSTS, perp=None if setup is None else _perp_binding(setup),
    )  # fmt: skip


def at_live(terms: PerpTerms | None) -> dict:
    """The binding of a live session about to start with these perpetual terms."""
    return live_binding(
        LIVE, SmaCross(fast=5, slow=20), symbol="BTCUSDT", timeframe="1h", costs=COSTS,
        perp=terms,
    )  # fmt: skip


def test_a_live_session_on_other_perpetual_terms_is_refused(tmp_path) -> None:
    spec = btc_perp()  # binance, mmr 0.005, max leverage 20
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        ok = evaluate("sma_cross", {"fast": 5, "slow": 20}, "live", {"p": passing})
        record(ledger, ok, "data", "nb", promoted(PerpSetup(spec, 3)))
        same = PerpTerms("binance", D(3), D("0.005"), D(20))
        assert require_live_promotion(ledger, at_live(same), "sma_cross")["passed"]
        attacks = {
            "perp.leverage: promoted 3.0, now 5.0": PerpTerms("binance", D(5), D("0.005"), D(20)),
            "perp.maintenance_margin_rate: promoted 0.005, now 0.01": PerpTerms(
                "binance", D(3), D("0.01"), D(20)
            ),
            "perp.venue: promoted binance, now hyperliquid": PerpTerms(
                "hyperliquid", D(3), D("0.005"), D(20)
            ),
            "perp": None,  # the same strategy traded spot
        }
        for why, terms in attacks.items():
            with pytest.raises(LiveTradingNotAllowed, match=why.replace(".", r"\.")):
                require_live_promotion(ledger, at_live(terms), "sma_cross")
    # and a spot promotion does not bind a perpetual session
    with Ledger(f"sqlite:///{tmp_path / 'spot.sqlite'}") as ledger:
        ok = evaluate("sma_cross", {"fast": 5, "slow": 20}, "live", {"p": passing})
        record(ledger, ok, "data", "nb", promoted(None))
        assert require_live_promotion(ledger, at_live(None), "sma_cross")["passed"]
        with pytest.raises(LiveTradingNotAllowed, match="perp"):
            require_live_promotion(ledger, at_live(same), "sma_cross")


def test_the_verdict_gate_of_a_perpetual_wants_a_verdict_on_its_terms(tmp_path) -> None:
    bars = load_sample("btc_usd_1h").iloc[-400:]
    grid = {"fast": [5], "slow": [20, 40]}
    url = f"sqlite:///{tmp_path / 'v.sqlite'}"
    setup = PerpSetup(btc_perp(), 2, funding_of(bars, 0.0001))
    with Ledger(url) as ledger:
        wf = walk_forward(
            SmaCross, bars, grid, 200, 60, costs=COSTS, progress=False, ledger=ledger, perp=setup
        )
        wf_params = dict(wf.judged.metrics["params"])

        def gate(perp):
            inner = verdict_gate(SmaCross, wf_params, ledger, None, "1h")
            return perp_verdict_gate(inner, SmaCross, wf_params, ledger, perp)()

        mine = gate(setup)
        assert "made on" not in mine.detail and "on binance 2.0×" in mine.detail
        for other, why in (
            (PerpSetup(btc_perp(), 3, setup.funding), "other perpetual terms"),
            (PerpSetup(btc_perp(), 2, funding_of(bars, 0.0002)), "other perpetual terms"),
        ):
            refused = gate(other)
            assert not refused.passed and why in refused.detail
        # a spot verdict of the same code and parameters does not pass a perpetual run
        walk_forward(SmaCross, bars, grid, 200, 60, costs=COSTS, progress=False, ledger=ledger)
        spot = gate(setup)
        assert not spot.passed and "made on spot terms" in spot.detail


def test_parity_compares_funding_and_fails_when_the_engine_books_other_amounts(
    monkeypatch,
) -> None:
    bars = load_sample("btc_usd_1h").iloc[-600:]
    strategy = BollingerReversion(window=20, k=2.0)
    setup = PerpSetup(btc_perp(mmr="0.04"), 10, funding_of(bars, 0.0003))
    report = parity.compare(strategy, bars, COSTS, perp=setup)
    assert report.ok, report.mismatches
    assert report.perp["engine_payments"] == report.perp["research_payments"] > 3
    assert "funding" in str(report) and "liquidations" in str(report)

    import importlib

    engine_replay = importlib.import_module("nzeza.engine.replay")
    real = engine_replay.replay

    def skewed(*args, **kw):  # an engine that books funding 0.1 % off
        result = real(*args, **kw)
        result.funding["amount"] = [a * D("1.001") for a in result.funding["amount"]]
        return result

    monkeypatch.setattr(engine_replay, "replay", skewed)
    bad = parity.compare(strategy, bars, COSTS, perp=setup)
    assert not bad.ok and any("funding amounts differ" in m for m in bad.mismatches)


def test_parity_command_with_perp_flags(tmp_path) -> None:
    bars = load_sample("btc_usd_1h").iloc[-300:]
    data = tmp_path / "bars.csv"
    bars.rename_axis("timestamp").to_csv(data)
    f = funding_of(bars, 0.0001)
    funding = tmp_path / "funding.csv"
    pd.DataFrame({"ts": f.index, "funding_rate": f.to_numpy()}).to_csv(funding, index=False)
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "parity", "sma_cross", "--params", "fast=5",
         "slow=20", "--data", str(data), "--perp", "binance", "--funding", str(funding),
         "--leverage", "2", "--windowed"],
        capture_output=True, text=True, cwd=tmp_path,
        env={**__import__("os").environ, "NZEZA_RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    assert "PARITY OK" in out.stdout and "funding" in out.stdout


def test_nzeza_live_at_another_leverage_is_refused_by_the_live_check(tmp_path, monkeypatch) -> None:
    """The attack end to end: promoted at 3×, `open_session` of a live plan at 5× is refused
    by the live check, naming the leverage, before anything is built."""
    import asyncio
    import os

    from nzeza.engine.runner import SessionPlan, open_session
    from nzeza.ops.settings import load_settings
    from nzeza.promotion.live_check import check_plan, plan_binding

    for key in list(os.environ):
        if key.startswith("NZEZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NZEZA_RUNS_DIR", str(tmp_path / "runs"))
    settings = load_settings(require_live=False)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"

    def plan(leverage: int) -> SessionPlan:
        strategy = SmaCross(fast=5, slow=20)
        return SessionPlan(
            mode="live", strategy=strategy, strategy_name="sma_cross",
            params=dict(strategy.params), costs=COSTS, timeframe="1h", ledger_url=url,
            perp=PerpTerms("binance", D(leverage)),
        )  # fmt: skip

    with Ledger(url) as ledger:
        ok = evaluate("sma_cross", dict(SmaCross(fast=5, slow=20).params), "live", {"p": passing})
        record(ledger, ok, "data", "nb", plan_binding(settings, plan(3)))

    async def start(p: SessionPlan) -> None:
        async with open_session(p, settings, live_check=check_plan):
            raise AssertionError("a live session was assembled")

    with pytest.raises(LiveTradingNotAllowed) as err:
        asyncio.run(start(plan(5)))
    assert any("perp.leverage: promoted 3.0, now 5.0" in r for r in err.value.reasons)
    with pytest.raises(LiveTradingNotAllowed) as same:
        asyncio.run(start(plan(3)))  # refused too (no confirmation, ...), but not for its terms
    assert not any("promotion gate" in r for r in same.value.reasons), same.value.reasons


def test_the_paper_gate_counts_only_a_paper_session_on_the_same_terms(tmp_path) -> None:
    """A spot paper session is no evidence for a perpetual live run (nor the reverse)."""
    import os

    from nzeza.promotion.paper_gate import paper_gate
    from nzeza.promotion.policy import GatePolicy

    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    env = {**os.environ, "NZEZA_RUNS_DIR": str(tmp_path / "runs")}
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "paper", "sma_cross", "--params", "fast=5",
         "slow=20", "--perp", "binance", "--leverage", "2", "--ledger", url, "--venue-db",
         str(tmp_path / "v.sqlite")],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    strategy = SmaCross(fast=5, slow=20)
    two = _perp_binding(PerpSetup(btc_perp(), 2))
    three = _perp_binding(PerpSetup(btc_perp(), 3))
    with Ledger(url) as ledger:

        def judged(perp):
            return paper_gate(
                ledger, strategy, GatePolicy(), verdict=None, symbol=None, costs=COSTS,
                perp=perp,
            )()  # fmt: skip

        spot = judged(None)
        assert not spot.passed and "ran as a perpetual at 2×" in spot.detail
        assert "the promotion binds spot" in spot.detail
        other = judged(three)
        assert not other.passed and "binds as a perpetual at 3×" in other.detail
        same = judged(two)  # judged on its evidence (too short here), not refused for its terms
        assert "the promotion binds" not in same.detail
