"""Paper sessions on a recording of any venue: its format is recognised, its symbol resolved,
a malformed line is skipped as a live feed skips it, and the session tracks its own replay.

Before: `--feed replay:FILE` parsed every recording as Binance, so a Hyperliquid (or Coinbase,
Kraken, dYdX) recording stopped the session at its first message with a Binance ParseError.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nzeza.engine.runner import replay_spec, resolve_feed, session_instrument
from nzeza.engine.sources import capture_trades
from nzeza.errors import ValidationError
from nzeza.feeds.capture import (
    BINANCE_BTCUSDT,
    BINANCE_ETHUSDT,
    HYPERLIQUID_BTC,
    CaptureWriter,
    bundled,
    read_capture,
    sniff,
)
from nzeza.store import Ledger

FIXTURES = Path(__file__).resolve().parents[1] / "feeds" / "fixtures"
ROOT = Path(__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    """The environment of a CLI subprocess: no NZEZA_ settings, this checkout's nzeza."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
    return env


def recording(tmp: Path, name: str, lines: list[tuple[int, str]]) -> Path:
    path = tmp / name
    with CaptureWriter(path) as out:
        for ns, raw in lines:
            out.write(raw, ns)
    return path


def first(name: str, n: int) -> list[tuple[int, str]]:
    out = []
    for item in read_capture(bundled(name)):
        out.append(item)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize(
    ("fixture", "venue", "symbol"),
    [
        ("coinbase_advanced.jsonl", "coinbase", "ETH-USD"),
        ("kraken_v2.jsonl", "kraken", "MATIC/USD"),
        ("dydx_v4.jsonl", "dydx", "BTC-USD"),
    ],
)
def test_each_venue_format_is_recognised(tmp_path, fixture, venue, symbol):
    lines = [ln for ln in (FIXTURES / fixture).read_text().splitlines() if ln.strip()]
    path = recording(tmp_path, "rec.jsonl", [(1, ln) for ln in lines])
    info = sniff(path)
    assert (info.venue, info.trade_symbols) == (venue, (symbol,))


def test_bundled_captures_are_recognised():
    assert sniff(bundled(BINANCE_BTCUSDT[0])).venue == "binance"
    assert sniff(bundled(HYPERLIQUID_BTC)).trade_symbols == ("BTC",)
    assert sniff(bundled(HYPERLIQUID_BTC)).venue == "hyperliquid"


def test_symbol_of_a_two_symbol_recording_must_name_one_of_them(tmp_path):
    mixed = first(BINANCE_BTCUSDT[0], 400) + first(BINANCE_ETHUSDT[0], 400)
    path = recording(tmp_path, "two.jsonl", sorted(mixed))
    spec = replay_spec(f"replay:{path}", [path], "ETH/USDT")
    assert (spec.venue, spec.symbol) == ("binance", "ETHUSDT")
    with pytest.raises(ValidationError) as err:
        replay_spec(f"replay:{path}", [path], "SOLUSDT")
    assert err.value.field == "symbol" and "BTCUSDT, ETHUSDT" in str(err.value)

    async def trades(symbol):
        return [t async for t in capture_trades([path], symbol, venue="binance")]

    eth = asyncio.run(trades("ETHUSDT"))
    assert eth and {t.symbol for t in eth} == {"ETHUSDT"}


def test_a_malformed_line_is_skipped_and_told(tmp_path):
    lines = first(HYPERLIQUID_BTC, 30)
    lines.insert(5, (lines[5][0], '{"channel":"trades","data":[{"coin":"BTC","px":"-1"}]}'))
    path = recording(tmp_path, "bad.jsonl", lines)
    seen = []

    async def collect():
        return [
            t
            async for t in capture_trades([path], "BTC", "hyperliquid", on_parse_error=seen.append)
        ]

    clean = recording(tmp_path, "clean.jsonl", first(HYPERLIQUID_BTC, 30))

    async def collect_clean():
        return [t async for t in capture_trades([clean], "BTC", "hyperliquid")]

    assert asyncio.run(collect()) == asyncio.run(collect_clean())
    assert len(seen) == 1 and seen[0].venue == "hyperliquid"


def test_instruments_from_every_venue_spelling():
    spelled = {
        "BTCUSDT": "BTC/USDT",
        "BTC-USD": "BTC/USD",
        "MATIC/USD": "MATIC/USD",
        "BTC": "BTC/USDC",
        "ETHBTC": "ETH/BTC",
    }
    assert {s: session_instrument(s).symbol for s in spelled} == spelled


def test_a_paper_session_on_a_hyperliquid_recording_runs_and_tracks_its_replay(tmp_path):
    feed = f"replay:{bundled(HYPERLIQUID_BTC)}"
    assert resolve_feed(feed, "BTCUSDT").venue == "hyperliquid"
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = subprocess_env()
    cmd = [sys.executable, "-m", "nzeza.cli", "paper", "--strategy", "sma_cross"]
    cmd += ["--params", "fast=2", "slow=4", "--feed", feed, "--timeframe", "2s"]
    cmd += ["--session-id", "hl", "--ledger", ledger_url, "--venue-db", str(tmp_path / "v.db")]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "feed ended" in out.stdout and " 0 fills" not in out.stdout  # it traded
    with Ledger(ledger_url) as led:
        assert len(led.equity_curve("hl")) >= 20
        from nzeza.promotion import divergence

        # the session against the research backtest of the bars rebuilt from the recording
        report = divergence(led, "hl")
    assert report.compared >= 20
    assert report.tracking_error < 1e-9, report
    assert report.matched == report.research_orders > 0 and report.extra == 0


# -- bad prices in a recording stop at the edge ---------------------------------------------------
SELL_BIN = 344632317  # a 5 s bin whose first trade closes SmaLike's long (found by a clean run)


def recording_with_bad_prices(tmp: Path) -> tuple[Path, int]:
    """The first bundled Binance capture with a trade priced 1E-999999999 opening the bin where
    the session sells, and one priced 0 three bins earlier (real trades, price replaced)."""
    import json

    path, bad = tmp / "bad-prices.jsonl", 0
    injected: set[int] = set()
    with CaptureWriter(path) as out:
        for ns, raw in read_capture(bundled(BINANCE_BTCUSDT[0])):
            if "@trade" in raw:
                msg = json.loads(raw)
                b = msg["data"]["T"] // 5000
                for key, price in ((SELL_BIN, "1E-999999999"), (SELL_BIN - 3, "0")):
                    if b == key and key not in injected:
                        injected.add(key)
                        out.write(json.dumps({**msg, "data": {**msg["data"], "p": price}}), ns)
                        bad += 1
            out.write(raw, ns)
    return path, bad


def paper(tmp: Path, sid: str, feed: str) -> subprocess.CompletedProcess:
    env = subprocess_env()
    cmd = [sys.executable, "-m", "nzeza.cli", "paper", "--strategy"]
    cmd += ["support.toy_strategies:SmaLike", "--timeframe", "5s", "--feed", feed]
    cmd += ["--session-id", sid, "--ledger", f"sqlite:///{tmp / 'ledger.sqlite'}"]
    cmd += ["--venue-db", str(tmp / "venue.sqlite")]
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)


def test_bad_prices_in_a_recording_are_counted_and_the_next_session_on_the_venue_works(tmp_path):
    """Before: the 1E-999999999 trade was accepted, the paper venue stored a fill at price
    0E-1000026, the session died reading it back and so did every later session on the same
    venue file (`invalid price=Decimal('0E-1000026'): must be positive`)."""
    path, bad = recording_with_bad_prices(tmp_path)
    assert bad == 2
    feed = f"replay:{path}"
    first_run = paper(tmp_path, "first", feed)
    assert first_run.returncode == 0, first_run.stderr[-2000:]
    second_run = paper(tmp_path, "second", feed)
    assert second_run.returncode == 0, second_run.stderr[-2000:]
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        for sid in ("first", "second"):
            fills = led.fills(sid)
            assert led.session(sid)["status"] == "finished" and len(fills) >= 2
            assert all(f.price > 1000 for f in fills)  # no fill at a bad price
    # in process: the two bad trades are counted as parse errors and never reach the bars
    from decimal import Decimal

    from support.toy_strategies import SmaLike

    from nzeza.domain import Costs
    from nzeza.engine.runner import FeedSpec, trade_source
    from nzeza.engine.session import Session, SessionConfig
    from nzeza.ops.metrics import Metrics
    from nzeza.venues.paper.durable import DurablePaperVenue

    metrics = Metrics()
    inst = session_instrument("BTCUSDT")
    costs = Costs(0.001, 0.0005)
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        venue = DurablePaperVenue(tmp_path / "venue.sqlite", [inst], costs)
        cfg = SessionConfig("third", SmaLike(), "s", {}, inst, costs, Decimal(10_000), 5 * 10**9)
        spec = FeedSpec("replay", "BTCUSDT", paths=(path,), venue="binance")
        report = asyncio.run(
            Session(cfg, led, venue).run(trade_source(spec, None, metrics=metrics))
        )
        asyncio.run(venue.close())
    assert report.stopped_by == "feed ended" and report.fills >= 2
    assert metrics.parse_errors.labels("binance")._value.get() == bad
