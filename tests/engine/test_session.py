"""The streaming paper session over the websocket replay server (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from decimal import Decimal

import pandas as pd
import pytest
from support.toy_strategies import SmaLike

from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.engine.feed import replay_feed
from nzeza.engine.runner import risk_hook, session_instrument
from nzeza.engine.session import Session, SessionConfig
from nzeza.engine.sources import capture_trades
from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
from nzeza.feeds.replay import ReplayServer
from nzeza.ops.health import Health, OpsServer
from nzeza.ops.metrics import Metrics
from nzeza.risk import RiskConfig
from nzeza.store import Ledger
from nzeza.venues.paper.durable import DurablePaperVenue

COSTS = Costs(0.001, 0.0005)
TF = 5_000_000_000
PATHS = [bundled(n) for n in BINANCE_BTCUSDT]


def make(tmp, sid: str, metrics=None):
    inst = session_instrument("BTCUSDT")
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
    venue = DurablePaperVenue(tmp / "venue.sqlite", [inst], COSTS)
    cfg = SessionConfig(
        sid,
        SmaLike(short=True),
        "smalike",
        {"fast": 5, "slow": 20},
        inst,
        COSTS,
        Decimal(10_000),
        TF,
    )
    return Session(cfg, ledger, venue, metrics=metrics), ledger, inst


def offline_bars() -> pd.DataFrame:
    async def collect():
        return [
            (t.ts_ns, float(t.price), float(t.size)) async for t in capture_trades(PATHS, "BTCUSDT")
        ]

    rows = asyncio.run(collect())
    df = pd.DataFrame(rows, columns=["ts", "price", "size"])
    df.index = pd.to_datetime(df["ts"], unit="ns", utc=True)
    ohlc = df["price"].resample("5s").ohlc()
    close = ohlc["close"].ffill()
    ohlc = ohlc.fillna({"open": close, "high": close, "low": close})
    ohlc["close"] = close
    ohlc["volume"] = df["size"].resample("5s").sum()
    return ohlc.iloc[:-1]  # the last bar never closes in the stream


def test_paper_session_over_websocket_equals_replay_of_the_same_bars(tmp_path) -> None:
    metrics = Metrics()

    async def main():
        async with ReplayServer(PATHS, speed=None) as server:
            session, ledger, inst = make(tmp_path, "ws", metrics)
            health = Health()
            health.register("feed", session.feed_health)
            report = await session.run(replay_feed(server.url, "BTCUSDT", metrics=metrics))
            with (
                OpsServer(metrics, health) as ops,
                urllib.request.urlopen(ops.url + "/metrics", timeout=5) as resp,
            ):
                text = resp.read().decode()
            ledger.close()
            return report, inst, text

    report, inst, text = asyncio.run(main())
    expected = replay(
        SmaLike(short=True), offline_bars(), COSTS, 10_000, windowed=True, instrument=inst
    )
    assert report.bars == 130 and report.fills == len(expected.fills) > 3
    assert float(report.final_equity) == pytest.approx(expected.final_equity, rel=1e-12)
    assert f"nzeza_bars_total {float(report.bars)}" in text
    assert f'nzeza_orders_submitted_total{{venue="paper"}} {float(report.fills)}' in text
    assert 'nzeza_ws_state{venue="binance"} 0.0' in text  # disconnected at the end of the tape
    assert "nzeza_feed_messages_total" in text


def test_risk_rejections_are_journaled_and_nothing_is_sent(tmp_path) -> None:
    session, ledger, inst = make(tmp_path, "risky")
    session.pre_trade = risk_hook(
        ledger,
        "risky",
        inst,
        session.portfolio,
        config=RiskConfig(max_order_notional=Decimal(100), max_slippage_bps=None),
    )
    report = asyncio.run(session.run(capture_trades(PATHS, "BTCUSDT")))
    events = ledger.risk_events("risky")
    assert report.fills == 0 and report.rejected == report.intents > 0
    assert {e["check_name"] for e in events} == {"max_order_notional"}
    assert all(i["status"] == "rejected" for i in ledger.intents("risky"))
    assert ledger.verify_audit().ok
    ledger.close()


def test_orders_carry_the_price_they_were_sized_at(tmp_path) -> None:
    """Venues that price market orders themselves (Hyperliquid, Coinbase market buys) need the
    reference price: every request the session sends carries the price its intent was sized
    at, which is the touch the paper venue then fills against (± slippage)."""
    session, ledger, _ = make(tmp_path, "priced")
    sent = []
    submit = session.venue.submit

    async def recording(request):
        sent.append((request, session.venue.last_price[request.instrument_id][0]))
        return await submit(request)

    session.venue.submit = recording
    report = asyncio.run(session.run(capture_trades(PATHS, "BTCUSDT")))
    assert report.fills > 0 and len(sent) == report.intents
    for request, touch in sent:
        assert request.reference_price == touch
    ledger.close()


def test_kill_switch_stops_the_session_at_the_next_event(tmp_path) -> None:
    session, ledger, _ = make(tmp_path, "killed")
    seen = {"n": 0}

    def engaged() -> bool:
        seen["n"] += 1
        return seen["n"] > 500

    session.kill_switch = engaged
    report = asyncio.run(session.run(capture_trades(PATHS, "BTCUSDT")))
    assert report.stopped_by == "kill switch"
    assert seen["n"] == 501  # checked on every event, stopped on the first one after
    assert ledger.session("killed")["status"] == "stopped"
    ledger.close()


def test_healthz_reports_a_stale_feed(tmp_path) -> None:
    session, ledger, _ = make(tmp_path, "stale")
    ok, detail = session.feed_health()
    assert not ok and detail == {"last_trade_age_s": None}
    session._last_trade_wall = 0.0  # long ago
    ok, detail = session.feed_health()
    assert not ok and detail["last_trade_age_s"] > 30
    ledger.close()
    assert json.dumps(detail)
