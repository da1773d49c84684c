"""Each promotion gate passes on real evidence and refuses when its condition fails."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine.runner import session_instrument, session_record
from nzeza.engine.session import Session, SessionConfig
from nzeza.engine.sources import capture_trades
from nzeza.errors import LiveTradingNotAllowed
from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
from nzeza.promotion import GatePolicy, newest_verdict, run_binding
from nzeza.promotion.gates import lookahead_gate, parity_gate, promote, verdict_gate
from nzeza.promotion.live_check import require_live_promotion
from nzeza.promotion.paper_gate import paper_gate
from nzeza.store import Ledger
from nzeza.store.trials import record_verdict
from nzeza.strategies import SmaCross, Strategy, identify

ROOT = Path(__file__).resolve().parents[2]
COSTS = Costs(0.001, 0.0005)
BARS = load_sample("btc_usd_1h").iloc[-1500:]


class PeeksAhead(Strategy):
    """Long when tomorrow's close is higher: a planted lookahead."""

    name = "peeks_ahead_test"
    lag: int = 1

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return (bars["close"].shift(-self.lag) > bars["close"]).astype(float)


class CoinFlip(Strategy):
    """Different targets on every call: research and replay cannot agree."""

    name = "coin_flip_test"
    p: float = 0.5

    def target(self, bars: pd.DataFrame) -> pd.Series:
        rng = np.random.default_rng()
        return pd.Series((rng.random(len(bars)) < self.p).astype(float), index=bars.index)


def plant_verdict(
    ledger: Ledger,
    decision: str,
    params: dict,
    cls: type = SmaCross,
    timeframe: str = "1h",
    metrics: dict | None = None,
    pbo: float | None = 0.05,
) -> int:
    """A verdict row for `cls(**params)` as `verdict()` records it (the gate's only input)."""
    who = identify(cls(**params))
    return record_verdict(
        ledger,
        dict(
            family=who.family,
            identity=who.identity,
            source_hash=who.strategy.source_hash,
            strategy=who.name,
            params=json.dumps(who.params, sort_keys=True),
            params_hash=who.params_hash,
            dataset="d" * 16,
            timeframe=timeframe,
            data_start_ns=int(BARS.index[0].value),
            data_end_ns=int(BARS.index[-1].value),
            costs=json.dumps({"fee": COSTS.fee, "slippage": COSTS.slippage}),
            decision=decision,
            reasons=json.dumps([f"planted {decision}"]),
            metrics=json.dumps(metrics or {}),
            n_trials=9,
            deflated_sharpe=0.97,
            pbo=pbo,
            policy="{}",
            code_version="test",
        ),
    )


def test_verdict_gate_needs_the_newest_record_of_these_params_to_be_scale(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        gate = verdict_gate(SmaCross, {"fast": 10, "slow": 30}, ledger)
        assert not gate().passed and "no verdict in the ledger" in gate().detail
        plant_verdict(ledger, "SCALE", {"fast": 12, "slow": 30})  # other params do not count
        assert not gate().passed
        vid = plant_verdict(ledger, "SCALE", {"fast": 10, "slow": 30})
        result = gate()
        assert result.passed and f"verdict #{vid} decided SCALE" in result.detail
        assert "over 9 registered trials, PBO 0.05" in result.detail
        plant_verdict(ledger, "KILL", {"slow": 30, "fast": 10})  # newer, and refused
        result = gate()
        assert not result.passed and "KILL" in result.detail


def old_style_verdict_file(folder: Path, params: dict) -> Path:
    """A hand-written verdict in the JSON format nzeza used to read from runs/verdicts/."""
    from nzeza.strategies.base import params_hash

    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "strategy": "sma_cross",
        "params": params,
        "params_hash": params_hash("sma_cross", params),
        "decision": "SCALE",
        "reasons": ["trust me"],
        "metrics": {"deflated_sharpe": 0.99},
        "data_fingerprint": "0" * 16,
        "data_range": ["2020", "2024"],
        "created": 4e9,  # "newest" forever, by its own say-so
    }
    path = folder / f"sma_cross-{doc['params_hash']}-4000000000000.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_hand_written_verdict_file_is_not_evidence(tmp_path) -> None:
    params = {"fast": 10, "slow": 30}
    old_style_verdict_file(tmp_path / "runs" / "verdicts", params)
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        result = verdict_gate(SmaCross, params, ledger)()
    assert not result.passed and "no verdict in the ledger" in result.detail


EVIL = """
import pandas as pd

from nzeza.strategies import Strategy


class Evil(Strategy):
    \"\"\"Always long: a user class that happens to be called sma_cross.\"\"\"

    name = "sma_cross"
    fast: int = 10
    slow: int = 30

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return pd.Series(1.0, index=bars.index)


sma_cross = Evil
"""


@pytest.fixture
def evil(tmp_path, monkeypatch) -> type:
    """`evil:sma_cross`: a user's module on the import path, its class named like ours."""
    import importlib

    (tmp_path / "evil.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "evil", raising=False)
    return importlib.import_module("evil").sma_cross


def test_a_borrowed_class_name_is_another_strategy(tmp_path, evil) -> None:
    params = {"fast": 10, "slow": 30}
    assert evil.name == SmaCross.name == "sma_cross"
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        plant_verdict(ledger, "SCALE", params, cls=evil)
        shipped = verdict_gate(SmaCross, params, ledger)()
        assert not shipped.passed, shipped.detail
        plant_verdict(ledger, "SCALE", params, cls=SmaCross)
        plant_verdict(ledger, "KILL", params, cls=evil)
        assert verdict_gate(SmaCross, params, ledger)().passed
        theirs = verdict_gate(evil, params, ledger)()
        assert not theirs.passed and "KILL" in theirs.detail  # its own newest verdict


def test_a_verdict_of_other_code_does_not_pass_the_gate(tmp_path, monkeypatch) -> None:
    """Same class path and parameters, changed source: the old verdict is not this code's."""
    import importlib

    params = {"fast": 10, "slow": 30}
    (tmp_path / "mystrat.py").write_text(EVIL.replace("pd.Series(1.0", "pd.Series(0.5"))
    monkeypatch.syspath_prepend(str(tmp_path))
    before = importlib.import_module("mystrat").Evil
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        plant_verdict(ledger, "SCALE", params, cls=before)
        assert verdict_gate(before, params, ledger)().passed
        (tmp_path / "mystrat.py").write_text(EVIL.replace("pd.Series(1.0", "pd.Series(0.9"))
        after = importlib.reload(sys.modules["mystrat"]).Evil
        result = verdict_gate(after, params, ledger)()
    sys.modules.pop("mystrat", None)
    assert not result.passed
    assert "made for other code of mystrat:Evil" in result.detail


def test_lookahead_gate_refuses_a_strategy_that_sees_the_future() -> None:
    assert lookahead_gate(SmaCross(fast=10, slow=30), BARS)().passed
    result = lookahead_gate(PeeksAhead(), BARS)()
    assert not result.passed and "LOOKAHEAD" in result.detail


def test_parity_gate_refuses_when_replay_and_research_disagree() -> None:
    ok = parity_gate(SmaCross(fast=10, slow=30), BARS, COSTS, 1e-9)()
    assert ok.passed and "trades equal" in ok.detail
    bad = parity_gate(CoinFlip(), BARS, COSTS, 1e-9)()
    assert not bad.passed and bad.detail


def test_verdict_gate_refuses_an_overfit_verdict_and_another_timeframe(tmp_path) -> None:
    params = {"fast": 10, "slow": 30}
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        plant_verdict(ledger, "SCALE", params, pbo=0.35)
        result = verdict_gate(SmaCross, params, ledger, GatePolicy())()
        assert not result.passed and "PBO 0.35 > 0.2" in result.detail
        plant_verdict(ledger, "SCALE", params, pbo=None)
        result = verdict_gate(SmaCross, params, ledger, GatePolicy())()
        assert not result.passed and "no PBO was computed" in result.detail
        plant_verdict(ledger, "SCALE", params)
        assert verdict_gate(SmaCross, params, ledger, GatePolicy(), "1h")().passed
        other = verdict_gate(SmaCross, params, ledger, GatePolicy(), "5m")()
        assert not other.passed and "promoting 5m bars, the verdict is on 1h" in other.detail


def paper_session(
    ledger: Ledger, tmp: Path, sid: str, venue_costs: Costs, timeframe: str = "5s", **kw
) -> int:
    """A real paper session over the bundled capture: the ledger records that it traded at
    COSTS, the paper venue charges `venue_costs` (a venue that slips more than assumed)."""
    from nzeza.feeds.bars import timeframe_ns
    from nzeza.venues.paper.durable import DurablePaperVenue

    inst = session_instrument("BTCUSDT")
    strat = SmaCross(fast=5, slow=20)
    cfg = SessionConfig(
        sid,
        strat,
        "sma_cross",
        strat.params,
        inst,
        venue_costs,
        Decimal(10_000),
        timeframe_ns(timeframe),
        record=session_record("capture:binance_btcusdt", "BTCUSDT", timeframe, COSTS, 10_000),
        **kw,
    )
    venue = DurablePaperVenue(tmp / f"{sid}-venue.sqlite", [inst], venue_costs)
    session = Session(cfg, ledger, venue)
    paths = [bundled(n) for n in BINANCE_BTCUSDT]
    report = asyncio.run(session.run(capture_trades(paths, "BTCUSDT")))
    asyncio.run(venue.close())
    return report.bars


PAPER = {"fast": 5, "slow": 20}
FLOOR = GatePolicy(min_paper_bars=100, min_paper_days=7)  # the floors: the capture is short


def judge(ledger: Ledger, policy: GatePolicy = FLOOR, params: dict = PAPER, **kw):
    strategy = SmaCross(**params)
    holder: dict = {}
    result = paper_gate(
        ledger,
        strategy,
        policy,
        verdict=newest_verdict(SmaCross, strategy.params, ledger),
        symbol="BTC/USDT",
        costs=COSTS,
        holder=holder,
        **kw,
    )()
    return result, holder.get("report")


@pytest.fixture(scope="module")
def paper_ledger(tmp_path_factory) -> tuple[Ledger, int]:
    tmp = tmp_path_factory.mktemp("paper")
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
    bars = paper_session(ledger, tmp, "good", COSTS)
    plant_verdict(ledger, "SCALE", PAPER, timeframe="5s")
    yield ledger, bars
    ledger.close()


def test_paper_gate_passes_a_session_that_agrees_with_research(paper_ledger) -> None:
    ledger, bars = paper_ledger
    assert bars > 100
    ok, report = judge(ledger)
    assert ok.passed, ok.detail
    assert f"good: {bars} bars of 5s" in ok.detail and "tracking error" in ok.detail
    # measured, not assumed: the session's fills against the research backtest of its bars
    assert report.research_orders > 3 and report.matched == report.research_orders
    assert report.missed == report.extra == 0
    assert abs(report.excess_slippage_bps) < 0.5 and report.tracking_error < 1e-6


def test_paper_gate_refuses_too_few_bars_and_other_parameters(paper_ledger) -> None:
    ledger, bars = paper_ledger
    short, _ = judge(ledger, GatePolicy(min_paper_bars=bars + 1, min_paper_days=7))
    assert not short.passed and f"{bars} bars < {bars + 1}" in short.detail
    other, _ = judge(ledger, params={"fast": 6, "slow": 20})
    assert not other.passed and "no paper session of" in other.detail


def test_a_paper_session_on_other_bars_than_the_verdict_is_refused(tmp_path) -> None:
    """The bypass: a strategy validated on 1h bars passed the live gate after a few minutes of
    paper trading on 1s bars. The session must run on the verdict's timeframe."""
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        bars = paper_session(ledger, tmp_path, "fast-bars", COSTS, timeframe="1s")
        assert bars > 500  # more than enough bars, of the wrong size
        plant_verdict(ledger, "SCALE", PAPER, timeframe="1h")
        result, _ = judge(ledger, GatePolicy(min_paper_bars=100))
    assert not result.passed
    assert "fast-bars: ran on 1s bars, the verdict is on 1h bars" in result.detail


def test_paper_gate_refuses_a_session_without_the_promoted_vol_targeting(paper_ledger) -> None:
    ledger, _ = paper_ledger
    sizing = {"cash": None, "vol_target": 0.5, "vol_lookback": 24}
    result, _ = judge(ledger, sizing=sizing)
    assert not result.passed
    assert "good: ran with vol target off, the promotion binds 0.5 over 24 bars" in result.detail


def test_paper_gate_refuses_a_session_whose_breaker_tripped(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        paper_session(ledger, tmp_path, "tripped", COSTS)
        plant_verdict(ledger, "SCALE", PAPER, timeframe="5s")
        ledger.record_risk_event("tripped", "daily_loss", "500", "612.5", "breaker tripped", 1)
        result, _ = judge(ledger)
    assert not result.passed and "daily_loss tripped" in result.detail


def test_paper_gate_refuses_a_venue_that_slips_five_times_the_assumption(tmp_path) -> None:
    """The paper venue fills at 5x the slippage research assumed: the gate measures it against
    the research backtest of the same bars and names slippage as the main cause."""
    from nzeza.ops.risksettings import RiskSettings

    loose = RiskSettings(max_daily_loss="off")  # this test is about costs, not the breaker
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        paper_session(ledger, tmp_path, "slippy", Costs(0.001, 0.0025), risk=loose)
        plant_verdict(ledger, "SCALE", PAPER, timeframe="5s")
        result, report = judge(ledger)
    assert not result.passed
    assert "realised slippage 25.0 bps is 20.0 bps above the 5.0 assumed" in result.detail
    assert "main cause slippage" in result.detail
    assert report.main_cause == "slippage"
    share = report.attribution["slippage"] / report.gap
    assert 0.9 < share < 1.1, report.attribution  # nearly all of the gap
    assert report.matched == report.research_orders  # the same trades, at worse prices


def test_paper_gate_names_fees_when_the_venue_charges_more(tmp_path) -> None:
    from nzeza.ops.risksettings import RiskSettings

    loose = RiskSettings(max_daily_loss="off")
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        paper_session(ledger, tmp_path, "drifted", Costs(0.01, 0.0005), risk=loose)
        plant_verdict(ledger, "SCALE", PAPER, timeframe="5s")
        result, report = judge(ledger)
    assert not result.passed and "tracking error" in result.detail
    assert report.main_cause == "fees" and report.realised_fee_rate > 0.009


def test_paper_gate_counts_the_trades_the_session_missed(tmp_path) -> None:
    """Every order above 1 USDT rejected by risk: research traded, the session did not; the gap
    is attributed to trades, not to costs."""
    from nzeza.ops.risksettings import RiskSettings

    strict = RiskSettings(max_order_notional="1", on_breach="reject")
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        paper_session(ledger, tmp_path, "blocked", COSTS, risk=strict)
        plant_verdict(ledger, "SCALE", PAPER, timeframe="5s")
        result, report = judge(ledger)
    assert report.research_orders > 3 and report.session_orders == report.matched == 0
    assert report.missed == report.research_orders and report.fills == 0
    assert not result.passed
    assert f"{report.missed} missed and 0 extra trades of {report.research_orders}" in result.detail
    assert report.main_cause == "trades"


def test_paper_gate_compares_the_session_sharpe_with_the_verdicts_cpcv(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        paper_session(ledger, tmp_path, "s", COSTS)
        plant_verdict(
            ledger, "SCALE", PAPER, timeframe="5s", metrics={"cpcv_quantile_sharpe_annual": 1e9}
        )
        result, report = judge(ledger)
    assert not result.passed
    assert f"Sharpe {report.session_sharpe:.2f} below the verdict's CPCV 5% quantile" in (
        result.detail
    )


def test_promote_records_each_decision_and_binds_the_run(tmp_path, paper_ledger) -> None:
    ledger, _ = paper_ledger
    nb = ROOT / "notebooks" / "04_session.ipynb"
    live = dict(venue="binance", bars=BARS, policy=FLOOR)
    # another strategy's parameters: no verdict, no paper session; refused and on record
    refused = promote(nb, "live", params={"fast": 7, "slow": 20}, ledger=ledger, **live)
    assert not refused.passed
    assert [g.name for g in refused.gates] == ["verdict", "lookahead", "parity", "paper"]
    ok = promote(nb, "live", params=PAPER, ledger=ledger, **live)
    assert ok.passed, str(ok)
    assert ok.divergence is not None and ok.divergence.session_id == "good"
    now = run_binding(
        SmaCross(**PAPER), symbol="BTCUSDT", venue="binance", timeframe="5s", costs=Costs()
    )
    # judged at the floors: live accepts it only while the settings say the same
    with pytest.raises(LiveTradingNotAllowed, match=r"thresholds\.min_paper_bars: promoted under"):
        require_live_promotion(ledger, now, "sma_cross")
    from nzeza.ops.gatesettings import GateSettings

    at_floor = SimpleNamespace(gates=GateSettings(min_paper_bars=100, min_paper_days=7))
    row = require_live_promotion(ledger, now, "sma_cross", at_floor)
    assert row["id"] == ok.record_id
    assert json.loads(row["gates"])["paper"]["passed"]
    bound = json.loads(row["binding"])
    assert bound["strategy"].startswith("nzeza.strategies.technical:SmaCross@")
    assert (bound["symbol"], bound["venue"], bound["timeframe"]) == ("BTC/USDT", "binance", "5s")
    assert bound["paper_session"] == "good" and bound["verdict_id"] is not None
    assert bound["thresholds"]["min_paper_bars"] == 100
    with pytest.raises(LiveTradingNotAllowed, match="symbol: promoted BTC/USDT, now ETH/USDT"):
        require_live_promotion(ledger, {**now, "symbol": "ETH/USDT"}, "sma_cross", at_floor)


def promote_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            "promote",
            str(ROOT / "notebooks" / "04_session.ipynb"),
            "--to",
            "paper",
            "--bars",
            "800",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )


def test_cli_promote_exits_non_zero_and_names_the_failing_gates(tmp_path) -> None:
    out = promote_cli(tmp_path, "--ledger", f"sqlite:///{tmp_path / 'l.sqlite'}")
    assert out.returncode == 1, out.stderr
    assert "REFUSED" in out.stdout and "FAIL verdict" in out.stdout
    assert "PASS lookahead" in out.stdout and "PASS parity" in out.stdout
    assert "recorded as promotion #1" in out.stdout


def test_cli_promote_refuses_verdict_files(tmp_path) -> None:
    """The bypass: a one-line SCALE file in runs/verdicts/ (the default folder) or in any
    folder given with --verdicts passed the verdict gate. Files are not evidence any more."""
    params = {"fast": 10, "slow": 30}  # the notebook's own parameters
    old_style_verdict_file(tmp_path / "runs" / "verdicts", params)
    forged = old_style_verdict_file(tmp_path / "anywhere", params).parent
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    out = promote_cli(tmp_path, "--ledger", ledger)
    assert out.returncode == 1, out.stderr
    assert "FAIL verdict: no verdict in the ledger" in out.stdout
    out = promote_cli(tmp_path, "--ledger", ledger, "--verdicts", str(forged))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "verdicts are read from the ledger only" in out.stderr
