"""The paper gate for portfolio sessions (issue 17): a multi-symbol paper session over the two
bundled Binance captures is measured against the shared-cash backtest of the panel rebuilt from
its own feed — per symbol and for the portfolio — and a venue that slips 5× the research
assumption is refused with slippage named."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from nzeza.domain import Costs
from nzeza.engine.aligned import merge_trades
from nzeza.engine.portfolio_session import PortfolioSession, PortfolioSessionConfig
from nzeza.engine.runner import session_instrument
from nzeza.engine.sources import capture_trades
from nzeza.feeds.capture import bundled
from nzeza.ops.risksettings import RiskSettings
from nzeza.promotion import GatePolicy, newest_verdict
from nzeza.promotion.paper_gate import paper_gate
from nzeza.promotion.portfolio_divergence import session_divergence
from nzeza.store import Ledger
from nzeza.store.trials import record_verdict
from nzeza.strategies import CrossSectionalMomentum, identify
from nzeza.venues.factory import paper_venue

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "BTCUSDT": "binance_spot_btcusdt_20240808.jsonl.gz",
    "ETHUSDT": "binance_spot_ethusdt_20240808.jsonl.gz",
}
FEED = "capture:binance_btcusdt,binance_ethusdt"
PARAMS = {"lookback": 6, "rebalance": 1, "absolute": False}
COSTS = Costs(0.001, 0.0005)
SYMBOLS = "BTC/USDT,ETH/USDT"
POLICY = GatePolicy(min_paper_bars=60, min_paper_days=7)  # the captures are minutes long
S = 1_000_000_000
# these tests are about costs and trades, not the daily-loss breaker
LOOSE = RiskSettings(max_daily_loss="off")


def run_session(ledger: Ledger, tmp: Path, sid: str, venue_costs: Costs, **kw) -> int:
    """A real portfolio paper session over both captures: the ledger records that it traded at
    COSTS; the paper venue charges `venue_costs`."""
    instruments = {s: session_instrument(s) for s in FILES}
    strategy = CrossSectionalMomentum(**PARAMS)
    cfg = PortfolioSessionConfig(
        sid, strategy, "cross_sectional_momentum", dict(strategy.params), instruments,
        venue_costs, Decimal(10_000), 5 * S,
        record={"feed": FEED, "symbols": list(FILES), "timeframe": "5s", "fee": COSTS.fee,
                "slippage": COSTS.slippage, "init_cash": 10_000.0},
        **kw,
    )  # fmt: skip

    async def go() -> int:
        venue = paper_venue(tmp / f"{sid}-venue.sqlite", list(instruments.values()), venue_costs)
        try:
            session = PortfolioSession(cfg, ledger, venue)
            feeds = {s: capture_trades([bundled(f)], s) for s, f in FILES.items()}
            return (await session.run(merge_trades(feeds))).bars
        finally:
            await venue.close()

    return asyncio.run(go())


def plant_verdict(ledger: Ledger, timeframe: str = "5s") -> None:
    who = identify(CrossSectionalMomentum(**PARAMS))
    record_verdict(
        ledger,
        dict(
            family=who.family, identity=who.identity, source_hash=who.strategy.source_hash,
            strategy=who.name, params=json.dumps(who.params, sort_keys=True),
            params_hash=who.params_hash, dataset="d" * 16, timeframe=timeframe,
            data_start_ns=0, data_end_ns=1,
            costs=json.dumps({"fee": COSTS.fee, "slippage": COSTS.slippage}),
            decision="SCALE", reasons=json.dumps(["planted SCALE"]), metrics="{}", n_trials=9,
            deflated_sharpe=0.97, pbo=0.05, policy="{}", code_version="test",
        ),
    )  # fmt: skip


def judge(ledger: Ledger, symbol: str = SYMBOLS, policy: GatePolicy = POLICY):
    strategy = CrossSectionalMomentum(**PARAMS)
    holder: dict = {}
    result = paper_gate(
        ledger,
        strategy,
        policy,
        verdict=newest_verdict(CrossSectionalMomentum, strategy.params, ledger),
        symbol=symbol,
        costs=COSTS,
        holder=holder,
    )()
    return result, holder.get("report")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pgate")
    url = f"sqlite:///{tmp / 'ledger.sqlite'}"
    with Ledger(url) as ledger:
        bars = run_session(ledger, tmp, "good", COSTS, risk=LOOSE)
        plant_verdict(ledger)
    return tmp, url, bars


def test_a_portfolio_session_that_ran_as_researched_passes(good) -> None:
    _, url, bars = good
    with Ledger(url) as ledger:
        result, report = judge(ledger)
    assert bars >= 60
    assert result.passed, result.detail
    assert f"good: {bars} bars of 5s" in result.detail
    # measured per symbol: every research order of each symbol made by the session
    table = report.symbols
    assert list(table.index) == list(FILES)
    for sym, row in table.iterrows():
        assert row["research_orders"] > 3, sym
        assert row["matched"] == row["research_orders"] and row["missed"] == row["extra"] == 0
        assert abs(row["realised_slippage_bps"] - 5.0) < 0.01
        assert row["tracking_error"] < POLICY.max_tracking_error
    assert report.matched == report.research_orders == int(table["research_orders"].sum())
    assert report.tracking_error < POLICY.max_tracking_error
    assert abs(report.excess_slippage_bps) < 0.01


def test_the_gate_refuses_another_set_of_symbols_and_another_timeframe(good) -> None:
    _, url, _ = good
    with Ledger(url) as ledger:
        other, _ = judge(ledger, symbol="BTC/USDT,ETH/USDT,LTC/USDT")
        assert not other.passed
        assert (
            "good: traded BTC/USDT,ETH/USDT, the promotion is for BTC/USDT,ETH/USDT,LTC/USDT"
            in (other.detail)
        )
        short, _ = judge(ledger, policy=GatePolicy(min_paper_bars=10_000, min_paper_days=7))
        assert not short.passed and "bars < 10000" in short.detail
        tight = GatePolicy(min_paper_bars=60, min_paper_days=7, max_tracking_error=1e-9)
        each, _ = judge(ledger, policy=tight)  # every symbol's own tracking error is judged
        assert not each.passed
        assert "BTCUSDT tracking error" in each.detail and "ETHUSDT tracking error" in each.detail
        plant_verdict(ledger, timeframe="1h")  # the newest verdict rules
        hourly, _ = judge(ledger)
    assert not hourly.passed and "ran on 5s bars, the verdict is on 1h bars" in hourly.detail


def test_a_paper_venue_slipping_five_times_the_assumption_is_refused(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        run_session(ledger, tmp_path, "slippy", Costs(0.001, 0.0025), risk=LOOSE)
        plant_verdict(ledger)
        result, report = judge(ledger)
    assert not result.passed
    assert "realised slippage 25.0 bps is 20.0 bps above the 5.0 assumed" in result.detail
    assert "main cause slippage" in result.detail
    for sym, row in report.symbols.iterrows():
        assert abs(row["realised_slippage_bps"] - 25.0) < 0.01, sym


def test_a_session_whose_orders_were_refused_misses_trades_on_every_symbol(tmp_path) -> None:
    strict = RiskSettings(max_daily_loss="off", max_order_notional="1", on_breach="reject")
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        run_session(ledger, tmp_path, "blocked", COSTS, risk=strict)
        plant_verdict(ledger)
        result, report = judge(ledger)
    assert not result.passed and report.fills == 0
    assert f"{report.missed} missed and 0 extra trades of {report.research_orders}" in (
        result.detail
    )
    assert all(report.symbols["missed"] == report.symbols["research_orders"])
    assert report.main_cause == "trades"


def test_cli_divergence_prints_the_portfolio_per_symbol(good) -> None:
    tmp, url, _ = good
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env.update(PYTHONPATH=str(ROOT), NZEZA_RUNS_DIR=str(tmp / "runs"))

    def nzeza(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "nzeza.cli", "divergence", "good", "--ledger", url, *args],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    out = nzeza()
    assert out.returncode == 0, out.stderr[-2000:]
    assert "per symbol" in out.stdout
    for sym in FILES:
        assert f"    {sym} " in out.stdout
    out = nzeza("--json")
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert set(doc["per_symbol"]) == set(FILES)
    assert doc["per_symbol"]["BTCUSDT"]["missed"] == 0
    assert doc["matched"] == doc["research_orders"]


def test_divergence_of_an_unrecorded_feed_is_a_typed_error(tmp_path) -> None:
    from nzeza.errors import ValidationError

    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        ledger.start_session(
            "ws", mode="paper", strategy="cross_sectional_momentum", params={}, venue="paper",
            currency="USDT", initial_balances={"USDT": Decimal(1)},
            config={"portfolio": True, "feed": "ws://127.0.0.1:1", "symbols": list(FILES),
                    "timeframe": "5s", "timeframe_ns": 5 * S,
                    "family": "nzeza.strategies.portfolio:CrossSectionalMomentum"},
        )  # fmt: skip
        with pytest.raises(ValidationError) as err:
            session_divergence(ledger, "ws")
    assert err.value.field == "feed" and "not recorded" in err.value.reason
