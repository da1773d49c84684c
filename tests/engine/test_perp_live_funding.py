"""A paper session of a perpetual books funding from the venue's own funding stream: a
loopback server speaks Binance's trade stream (nzeza's replay protocol) and Binance USDⓈ-M's
`markPriceUpdate`; a long position crosses a funding time and the ledger's `funding` row holds
the hand-computed amount, once, across a reconnect of the funding stream."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from support.perp_cases import START, Scripted
from websockets.asyncio.server import serve

from nzeza.cli.run import perp_session_report
from nzeza.domain import Costs
from nzeza.engine.runner import PerpTerms, SessionPlan, open_session
from nzeza.notebook.perp_report import perp_session_frames
from nzeza.ops.settings import load_settings
from nzeza.store import Ledger

D = Decimal
TF = 3_600_000_000_000
T0 = START.value
MS = 1_000_000
FUNDING_T = T0 + 2 * TF  # the funding time the long crosses
CONDITION_LIMIT_S = 30.0  # a safety net only: the test waits on states, not on time


def trade(n: int, ts_ns: int) -> str:
    data = {"e": "trade", "E": ts_ns // MS, "s": "BTCUSDT", "t": n, "p": "50000.00",
            "q": "1.000", "T": ts_ns // MS, "m": False}  # fmt: skip
    return json.dumps({"stream": "btcusdt@trade", "data": data})


def mark_update(e_ns: int, rate: str, mark: str, next_ns: int) -> str:
    data = {"e": "markPriceUpdate", "E": e_ns // MS, "s": "BTCUSDT", "p": mark, "i": mark,
            "P": mark, "r": rate, "T": next_ns // MS}  # fmt: skip
    return json.dumps({"stream": "btcusdt@markPrice@1s", "data": data})


async def until(check) -> None:
    """Wait until `check()` holds (polled; the limit only stops a broken run from hanging)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + CONDITION_LIMIT_S
    while not check():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


class Venue:
    """The loopback venue: the trade tape on `@trade`, the funding stream on `@markPrice`."""

    def __init__(self) -> None:
        self.session = None
        self.funding_connections = 0
        self.funding_done = asyncio.Event()

    def long(self) -> bool:
        s = self.session
        return s is not None and s.portfolio.snapshot().position(s.cfg.instrument.id).quantity > 0

    async def handler(self, ws) -> None:
        path = ws.request.path
        if "@markPrice" in path:
            await self.funding(ws)
        elif "@trade" in path:
            await self.trades(ws)

    async def trades(self, ws) -> None:
        # two trades a bar over 5 hourly bars at 50,000; bar 0's close decides long, bar 1's
        # open buys 2 BTC (100,000 cash, no costs); the tape holds at bar 2 until the funding
        # stream has done its part, then ends (a normal close: the end of the replay)
        n = 0
        for bar in range(5):
            if bar == 2:
                await self.funding_done.wait()
            for offset_s in (1, 1800):
                n += 1
                await ws.send(trade(n, T0 + bar * TF + offset_s * 1_000_000_000))
        await ws.close(1000)

    async def funding(self, ws) -> None:
        self.funding_connections += 1
        after = mark_update(FUNDING_T + 5_000 * MS, "0.0002", "50100.00", FUNDING_T + 8 * TF)
        if self.funding_connections == 1:
            # before the funding time: its rate (+0.01 %) and mark (50,000) are what is paid
            await ws.send(mark_update(T0 + TF + 10_000 * MS, "0.0001", "50000.00", FUNDING_T))
            await until(self.long)
            await ws.send(after)  # the first update at/after T: T is booked
            await until(lambda: self.session.report.funding_payments >= 1)
            await ws.close(1011)  # the stream drops
            return
        # the reconnect: the venue sends its current state again, and later updates
        await ws.send(after)
        await ws.send(mark_update(FUNDING_T + 9_000 * MS, "0.0002", "50100.00", FUNDING_T + 8 * TF))
        self.funding_done.set()
        await ws.wait_closed()


def test_a_long_across_a_funding_time_books_the_venues_funding_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NZEZA_RUNS_DIR", str(tmp_path / "runs"))
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    venue = Venue()

    async def run():
        async with serve(venue.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            base = f"ws://127.0.0.1:{port}"
            plan = SessionPlan(
                mode="paper", strategy=Scripted([1.0] * 10), strategy_name="scripted",
                params={}, costs=Costs(0.0, 0.0), timeframe="1h", symbol="BTCUSDT", feed=base,
                cash=D(100_000), session_id="perp-live", ledger_url=url,
                venue_db=tmp_path / "venue.sqlite",
                perp=PerpTerms("binance", D(1), funding_feed=base),
            )  # fmt: skip
            settings = load_settings(require_live=False)
            async with open_session(plan, settings) as opened:
                venue.session = opened.session
                assert "binance funding" in opened.feed_name
                return await opened.session.run(opened.trades)

    report = asyncio.run(run())
    assert venue.funding_connections == 2  # the funding stream reconnected
    assert report.fills == 1 and report.funding_payments == 1
    with Ledger(url) as ledger:
        [row] = ledger.funding_entries("perp-live")
        # long 2 BTC across +0.01 % at mark 50,000 (the last rate and mark before T): pays 10
        assert row["ts"] == FUNDING_T and row["position"] == D(2)
        assert row["rate"] == D("0.0001") and row["mark"] == D(50_000)
        assert row["amount"] == D(-10)
        assert ledger.balances("perp-live")["USDT"] == D(-10)
        assert ledger.verify_audit().ok
        # the session report reads the same from the ledger: 10 paid, margin usage at each close
        frames = perp_session_frames(ledger, "perp-live")
        assert frames is not None and frames.paid == 10.0 and frames.received == 0.0
        assert frames.venue_terms["leverage"] == "1"
        # long 2 BTC at 50,000 and 1× from 100,000: 100,000 / 1 / equity (99,990 after funding)
        assert frames.margin.max() == pytest.approx(100_000 / 99_990, rel=1e-12)
        assert frames.margin.iloc[0] == 0.0  # flat at bar 0's close
        path = perp_session_report(ledger, "perp-live", str(tmp_path / "report.html"))
    page = path.read_text()
    assert "Perpetual: funding and margin of session perp-live" in page
    assert "funding paid" in page and "10.000000" in page and "max margin usage" in page
    assert report.final_equity == D(99_990)


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--funding-feed", "ws://127.0.0.1:1"], "--funding-feed"),  # without --perp
        (["--leverage", "3"], "--leverage"),  # without --perp
        (["--perp", "binance", "--leverage", "50"], "--leverage"),  # above --max-leverage
        (["--perp", "kraken"], "--perp"),
        (["--perp", "binance", "--funding-feed", "http://x"], "--funding-feed"),
    ],
)
def test_session_perp_flags_are_checked_before_anything_opens(tmp_path, argv, flag) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "paper", "sma_cross", *argv,
         "--ledger", f"sqlite:///{tmp_path / 'l.sqlite'}"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2 and flag in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "l.sqlite").exists()


def test_paper_perp_command_writes_the_funding_and_margin_report(tmp_path) -> None:
    import os
    import subprocess
    import sys

    html = tmp_path / "session.html"
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "paper", "sma_cross", "--params", "fast=2",
         "slow=4", "--perp", "binance", "--leverage", "2", "--session-id", "pp",
         "--ledger", f"sqlite:///{tmp_path / 'l.sqlite'}", "--venue-db",
         str(tmp_path / "v.sqlite"), "--html", str(html)],
        capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "NZEZA_RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "perpetual (binance, 2.0×)" in out.stdout
    assert "has no funding stream" in out.stdout  # a recording: said, not silently unfunded
    page = html.read_text()
    assert "Perpetual: funding and margin of session pp" in page and "margin usage" in page
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        frames = perp_session_frames(ledger, "pp")
    assert frames is not None and frames.venue_terms["leverage"] == "2.0"
    assert frames.margin.max() > 0  # it traded: margin in use at some close
    # a spot session is not given the perpetual report
    spot = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "paper", "sma_cross", "--html", str(html)],
        capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "NZEZA_RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    assert spot.returncode == 2 and "--html" in spot.stderr
