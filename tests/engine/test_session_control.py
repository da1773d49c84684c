"""Session control: graceful stop on SIGTERM / SIGINT (open orders cancelled or kept, final
snapshot), `--feed VENUE`, and a shared paper venue file never leaking trades across sessions."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from support.toy_strategies import SmaLike

from nzeza.domain import Costs
from nzeza.engine import client_order_id, replay
from nzeza.engine.runner import resolve_feed, session_instrument
from nzeza.engine.session import Session, SessionConfig, install_signal_handlers
from nzeza.engine.sources import capture_trades
from nzeza.engine.tracking import bars_from_capture
from nzeza.errors import ValidationError
from nzeza.execution import SnapshotBook
from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
from nzeza.ops.settings import load_settings
from nzeza.store import Ledger
from nzeza.venues import OrderRequest, PaperVenue
from nzeza.venues.paper.durable import DurablePaperVenue

ROOT = Path(__file__).resolve().parents[2]
COSTS = Costs(0.001, 0.0005)
TF = 5_000_000_000
PATHS = [bundled(n) for n in BINANCE_BTCUSDT]
BARS_IN_CAPTURE = 130  # closed 5 s bars in the bundled capture (the last one never closes)
CANARY_KEY = "CanaryPaperKey" + "7" * 50
CANARY_SECRET = "CanaryPaperSecret" + "9" * 47


class Flat:
    """Never trades: the session's only orders are the ones a test places."""

    params: ClassVar[dict] = {}
    warmup = 1

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return pd.Series(0.0, index=bars.index)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])  # this checkout
    env.update(extra)
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def audit_of(ledger: Ledger, sid: str, kind: str) -> list[dict]:
    return [json.loads(r["payload"]) for r in ledger.audit_rows(sid) if r["kind"] == kind]


# -- the CLI, for real: SIGTERM to `nzeza paper --feed binance` --------------------------------
def test_sigterm_stops_a_paper_session_on_a_venue_feed(tmp_path, replay_server) -> None:
    """`--feed binance` reads the venue's trade stream at NZEZA_BINANCE__WS_URL (here a replay
    server speaking Binance's protocol, which never closes the stream: an idle live feed). The
    session handles every trade, then SIGTERM stops it while it waits for the next message:
    exit 0, status stopped, final snapshot and stop record written, nothing lost."""
    server = replay_server()
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    cmd = [
        sys.executable,
        "-m",
        "nzeza.cli",
        "paper",
        "--strategy",
        "support.toy_strategies:SmaLike",
        "--params",
        "short=true",
        "--feed",
        "binance",
        "--session-id",
        "venuefeed",
        "--ledger",
        ledger_url,
        "--venue-db",
        str(tmp_path / "venue.sqlite"),
    ]
    port = free_port()
    env = clean_env(
        NZEZA_METRICS_PORT=str(port),  # the configurable port of /metrics and /healthz
        NZEZA_BINANCE__WS_URL=server.base_url,
        NZEZA_BINANCE__API_KEY=CANARY_KEY,  # configured, never needed by paper, never shown
        NZEZA_BINANCE__API_SECRET=CANARY_SECRET,
    )
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 180  # a bound on waiting, not a timing assertion
        bars = 0
        while bars < BARS_IN_CAPTURE and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            if (tmp_path / "ledger.sqlite").exists():
                with Ledger(ledger_url) as led:
                    bars = len(led.equity_curve("venuefeed"))
        assert proc.poll() is None, proc.communicate()
        assert bars == BARS_IN_CAPTURE
        time.sleep(0.5)  # the feed is idle now: the tape is over, the stream stays open
        assert proc.poll() is None  # a venue stream does not end by itself
        code, health = http_get(f"http://127.0.0.1:{port}/healthz")
        _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "session venuefeed signal SIGTERM" in out
    # served by the running CLI session, over real HTTP
    doc = json.loads(health)
    assert code == 200, doc
    assert {k: v["healthy"] for k, v in doc["components"].items()} == {
        "feed": True,
        "venue": True,
        "ledger": True,
        "breaker": True,
        "session": True,
    }
    assert f"nzeza_bars_total {float(BARS_IN_CAPTURE)}" in metrics.decode()
    assert 'nzeza_ws_state{venue="binance"} 2.0' in metrics.decode()  # connected, idle
    assert 'nzeza_circuit_breaker_state{name="binance-ws"} 0.0' in metrics.decode()
    # structured logs: JSON lines under runs/logs with the session id on every line
    log_lines = [
        json.loads(x) for x in (tmp_path / "runs/logs/venuefeed.jsonl").read_text().splitlines()
    ]
    assert [d["msg"] for d in log_lines if d["msg"].startswith("session ")] == [
        "session running",
        "session stopped",
    ]
    assert all(d["session_id"] == "venuefeed" for d in log_lines)
    assert log_lines[-1]["reason"] == "signal SIGTERM"
    assert "session_id=venuefeed" in err  # key=value on the terminal
    everything = out + err + (tmp_path / "runs/logs/venuefeed.jsonl").read_text()
    assert CANARY_KEY not in everything and CANARY_SECRET not in everything
    with Ledger(ledger_url) as led:
        row = led.session("venuefeed")
        curve = led.equity_curve("venuefeed")
        fills = led.fills("venuefeed")
        [stop] = audit_of(led, "venuefeed", "session_stop")
        statuses = audit_of(led, "venuefeed", "session_status")
        assert led.verify_audit().ok
    assert row["status"] == "stopped"
    assert statuses[-1] == {"status": "stopped", "reason": "signal SIGTERM"}
    assert stop["reason"] == "signal SIGTERM" and stop["on_stop"] == "cancel"
    assert len(curve) == BARS_IN_CAPTURE  # one equity row per closed bar
    assert stop["ts"] > curve[-1][0]  # the final snapshot: at the last trade, after the last bar
    assert Decimal(stop["position"]) == sum(
        (f.quantity if f.side.value == "buy" else -f.quantity for f in fills), Decimal(0)
    )
    # the same trades as a replay of the capture's bars: nothing lost on the way to the stop
    inst = session_instrument("BTCUSDT")
    expected = replay(
        SmaLike(short=True),
        bars_from_capture(PATHS, "BTCUSDT", "5s"),
        COSTS,
        10_000,
        windowed=True,
        instrument=inst,
    )
    assert len(fills) == len(expected.fills) > 3
    assert float(curve[-1][1]) == pytest.approx(expected.final_equity, rel=1e-12)


# -- open orders at a graceful stop: cancel or keep, on a real signal --------------------------
def _session_with_open_orders(tmp_path: Path, on_stop: str):
    inst = session_instrument("BTCUSDT")
    venue = PaperVenue.book_mode([inst], balances={"USDT": 1_000_000})
    ours = client_order_id("ctl", 900)  # this session's, left working by an earlier run
    theirs = client_order_id("another-session", 1)
    for cid in (ours, theirs):
        venue.submit_now(
            OrderRequest(cid, inst.id, "buy", Decimal("0.02"), type="limit", price=Decimal(1000))
        )
    # the book trades through both limits for 0.005 each: both partially filled at the venue
    book = SnapshotBook.from_levels(
        [(Decimal(990), Decimal(1))], [(Decimal(1000), Decimal("0.005"))]
    )
    venue.set_book(inst.id, book, 1)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    cfg = SessionConfig(
        "ctl", Flat(), "flat", {}, inst, COSTS, Decimal(10_000), TF, on_stop=on_stop
    )
    return Session(cfg, ledger, venue), ledger, venue, ours, theirs


async def _trades_then_idle(n: int, sig: signal.Signals):
    """`n` trades of the capture, then a signal to this process, then silence (a live feed)."""
    i = 0
    async for trade in capture_trades(PATHS, "BTCUSDT"):
        yield trade
        i += 1
        if i == n:
            break
    os.kill(os.getpid(), sig)  # handled by the loop's signal handler, not by pytest
    await asyncio.Event().wait()


@pytest.mark.parametrize(
    ("sig", "on_stop"),
    [(signal.SIGTERM, "cancel"), (signal.SIGINT, "cancel"), (signal.SIGTERM, "keep")],
)
def test_graceful_stop_cancels_or_keeps_open_orders(tmp_path, sig, on_stop) -> None:
    session, ledger, venue, ours, theirs = _session_with_open_orders(tmp_path, on_stop)

    async def main():
        install_signal_handlers(session)
        return await asyncio.wait_for(session.run(_trades_then_idle(300, sig)), 60)

    report = asyncio.run(main())
    assert report.stopped_by == f"signal {sig.name}"
    assert session.machine.state.value == "stopped"
    # the partial fill of our order happened before the session started: reconciled, once;
    # the other session's fill on the same venue is not ours
    assert report.reconciled_fills == 1
    assert [f.order_id for f in ledger.fills("ctl")] == [ours]
    assert session.portfolio.position("paper:BTC/USDT").quantity == Decimal("0.005")
    venue_status = {cid: w.status.value for cid, w in venue.orders.items()}
    assert venue_status[theirs] == "partially_filled"  # never touched: not ours
    [order] = ledger.orders("ctl")
    [stop] = audit_of(ledger, "ctl", "session_stop")
    if on_stop == "cancel":
        assert report.canceled_orders == [ours] and report.kept_orders == []
        assert venue_status[ours] == "canceled"
        assert order["status"] == "canceled"
        assert stop["canceled_orders"] == [ours] and stop["kept_orders"] == []
    else:
        assert report.kept_orders == [ours] and report.canceled_orders == []
        assert venue_status[ours] == "partially_filled"
        assert order["status"] == "partially_filled"  # listed as open in the ledger
        assert [o["client_order_id"] for o in ledger.orders("ctl", open_only=True)] == [ours]
        assert stop["kept_orders"] == [ours]
    assert Decimal(order["filled_qty"]) == Decimal("0.005")
    # final snapshot at the last trade seen, and the stop reason, are in the ledger
    assert stop["reason"] == f"signal {sig.name}" and Decimal(stop["position"]) == Decimal("0.005")
    cash = Decimal(stop["cash"])
    assert Decimal(stop["equity"]) == cash + Decimal("0.005") * Decimal(stop["mark"])
    assert ledger.session("ctl")["status"] == "stopped"
    ledger.close()


def test_a_stop_before_the_first_trade_still_stops_cleanly(tmp_path) -> None:
    session, ledger, _, _, _ = _session_with_open_orders(tmp_path, "cancel")

    async def silent():
        session.stop("operator")
        await asyncio.Event().wait()
        yield  # pragma: no cover

    report = asyncio.run(asyncio.wait_for(session.run(silent()), 30))
    assert report.stopped_by == "operator" and report.final_equity is None
    assert ledger.session("ctl")["status"] == "stopped"
    ledger.close()


# -- --feed VENUE --------------------------------------------------------------------------------
def test_feed_venue_name_reads_the_configured_endpoint(monkeypatch) -> None:
    for key in [k for k in os.environ if k.startswith("NZEZA_")]:
        monkeypatch.delenv(key)
    default = resolve_feed("binance", "BTCUSDT", load_settings())
    assert (default.kind, default.url) == ("venue", "wss://stream.binance.com:9443")
    monkeypatch.setenv("NZEZA_BINANCE__WS_URL", "ws://127.0.0.1:9999")
    local = resolve_feed("BINANCE", "ETHUSDT", load_settings())
    assert (local.url, local.symbol, local.venue) == ("ws://127.0.0.1:9999", "ETHUSDT", "binance")


@pytest.mark.parametrize(
    ("feed", "says"),
    [
        ("nosuchvenue", "a venue name (binance, coinbase, kraken, hyperliquid, dydx)"),
        ("replay:/no/such/file.jsonl.gz", "no such capture file"),
        ("capture:nope", "bundled captures"),
    ],
)
def test_feed_errors_name_the_field_and_value(feed, says) -> None:
    with pytest.raises(ValidationError) as err:
        resolve_feed(feed, "BTCUSDT", load_settings())
    assert err.value.field == "feed" and err.value.value == feed
    assert says in str(err.value)


@pytest.mark.parametrize(
    ("venue", "symbol", "wire", "url"),
    [
        ("coinbase", "BTCUSDT", "BTC-USDT", "wss://advanced-trade-ws.coinbase.com"),
        ("kraken", "BTC/USD", "BTC/USD", "wss://ws.kraken.com/v2"),
        ("hyperliquid", "BTC", "BTC", "wss://api.hyperliquid.xyz/ws"),
        ("dydx", "BTC-USD", "BTC-USD", "wss://indexer.dydx.trade/v4/ws"),
    ],
)
def test_every_venue_is_a_session_feed_in_its_own_spelling(monkeypatch, venue, symbol, wire, url):
    """Before: only Binance; `--feed kraken` was refused ("record kraken ... replay:FILE")."""
    for key in [k for k in os.environ if k.startswith("NZEZA_")]:
        monkeypatch.delenv(key)
    spec = resolve_feed(venue, symbol, load_settings())
    assert (spec.kind, spec.venue, spec.symbol, spec.url) == ("venue", venue, wire, url)


def test_a_venue_feed_needs_a_quote_currency_where_the_venue_names_one(tmp_path) -> None:
    cmd = [sys.executable, "-m", "nzeza.cli", "paper", "--strategy", "sma_cross"]
    out = subprocess.run(
        [*cmd, "--feed", "kraken", "--symbol", "BTC"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "invalid symbol='BTC'" in out.stderr and "BTC-USD" in out.stderr


# -- one venue file, two sessions ------------------------------------------------------------------
def test_sessions_sharing_a_paper_venue_never_book_each_others_trades(tmp_path) -> None:
    """The default paper venue file (runs/paper-venue.sqlite) is shared by every session: a new
    session's reconciliation must take only its own orders' trades."""
    inst = session_instrument("BTCUSDT")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    reports = {}
    for sid in ("first", "second"):
        venue = DurablePaperVenue(tmp_path / "venue.sqlite", [inst], COSTS)
        cfg = SessionConfig(
            sid, SmaLike(short=True), "smalike", {}, inst, COSTS, Decimal(10_000), TF
        )
        reports[sid] = asyncio.run(
            Session(cfg, ledger, venue).run(capture_trades(PATHS, "BTCUSDT"))
        )
        asyncio.run(venue.close())
    assert reports["second"].reconciled_fills == 0
    assert reports["first"].fills == reports["second"].fills > 3
    assert reports["first"].final_equity == reports["second"].final_equity
    for sid in ("first", "second"):
        prefix = client_order_id(sid, 0)[:-8]
        assert all(f.order_id.startswith(prefix) for f in ledger.fills(sid))
    ledger.close()
