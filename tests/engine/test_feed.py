"""A session's trade stream on the one connection manager, against real sockets on loopback.

- nzeza's replay server: a connection that goes silent without closing is stale; the feed
  reconnects by itself, resumes where it was (`from_ns`) and the session finishes exactly as an
  uninterrupted one (before: `engine/sources.websocket_trades` had no staleness timeout and
  waited forever);
- each of the five venues, served in its own protocol by `support.venue_streams`: the feed
  sends the venue's subscription (and its application pings), reads its message shapes, and
  after a dropped connection resubscribes and hands out every trade once, in time order,
  although the venue resends its recent trades (Kraken, Coinbase and dYdX snapshots);
- the de-duplication window is bounded (before: a set of every trade id, never shrinking).
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest
from support.toy_strategies import SmaLike
from support.venue_streams import SYMBOLS, VenueStream, capture_tape

from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.engine.feed import TradeFeed, replay_feed
from nzeza.engine.runner import session_health, session_instrument
from nzeza.engine.session import Session, SessionConfig
from nzeza.engine.tracking import bars_from_capture
from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
from nzeza.feeds.connection import Backoff
from nzeza.feeds.replay import Faults, ReplayServer
from nzeza.feeds.sequence import RecentIds
from nzeza.feeds.streams import trade_stream
from nzeza.ops.metrics import Metrics
from nzeza.store import Ledger
from nzeza.venues.paper.durable import DurablePaperVenue

COSTS = Costs(0.001, 0.0005)
TF = 5_000_000_000
PATHS = [bundled(n) for n in BINANCE_BTCUSDT]
FAST = Backoff(base_s=0.001, cap_s=0.01)


def counter(metrics: Metrics, name: str, venue: str) -> float:
    return getattr(metrics, name).labels(venue)._value.get()


def test_a_stale_feed_reconnects_by_itself_and_the_session_continues(tmp_path) -> None:
    metrics = Metrics()
    inst = session_instrument("BTCUSDT")
    seen: dict = {}

    async def main():
        # after 4,000 messages the server's connection goes silent and stays open
        async with ReplayServer(PATHS, faults=Faults(stall_after=4000)) as server:
            with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
                venue = DurablePaperVenue(tmp_path / "venue.sqlite", [inst], COSTS)
                cfg = SessionConfig(
                    "stale", SmaLike(short=True), "s", {}, inst, COSTS, Decimal(10_000), TF
                )
                session = Session(cfg, ledger, venue, metrics=metrics)
                feed = replay_feed(
                    server.url, "BTCUSDT", metrics=metrics, stale_after_s=0.5, backoff=FAST
                )
                health = session_health(session, ledger, feed=feed)

                async def watched():
                    async for trade in feed:
                        if "healthy" not in seen and feed.trades == 100:
                            seen["healthy"] = health.status()
                        yield trade

                report = await asyncio.wait_for(session.run(watched()), 120)
                await venue.close()
                seen["stalls"] = server.stalls
                return report, feed

    report, feed = asyncio.run(main())
    assert seen["stalls"] == 1
    assert feed.connection.stale_timeouts == 1 and feed.connection.reconnects == 1
    assert counter(metrics, "ws_reconnects", "binance") == 1
    # resumed a little early: the trades sent again were dropped by id, none was lost
    assert feed.seen.duplicates > 0
    expected = replay(
        SmaLike(short=True),
        bars_from_capture(PATHS, "BTCUSDT", "5s"),
        COSTS,
        10_000,
        windowed=True,
        instrument=inst,
    )
    assert report.stopped_by == "feed ended" and report.bars == 130
    assert report.fills == len(expected.fills) > 3
    assert float(report.final_equity) == pytest.approx(expected.final_equity, rel=1e-12)
    ok, doc = seen["healthy"]
    assert ok and doc["components"]["feed"]["detail"]["connection"]["state"] == "open"


# -- the five venues' own protocols ------------------------------------------------------------
TAPE = capture_tape(limit=400, files=1)
# what each venue must have received from the feed: its subscription to the trade stream
SUBSCRIPTION = {
    "coinbase": {"type": "subscribe", "channel": "market_trades", "product_ids": ["BTC-USD"]},
    "kraken": {"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"]}},
    "hyperliquid": {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}},
    "dydx": {"type": "subscribe", "channel": "v4_trades", "id": "BTC-USD"},
}


async def collect(feed: TradeFeed, n: int) -> list:
    out = []
    async for trade in feed:
        out.append(trade)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("venue", sorted(SYMBOLS))
@pytest.mark.parametrize("fault", ["drop_after", "stall_after"])
def test_each_venue_stream_reaches_the_session_once_in_order_across_a_reconnect(venue, fault):
    metrics = Metrics()

    async def main():
        async with VenueStream(venue, TAPE, history=20, **{fault: 150}) as server:
            stream = trade_stream(venue, server.url, SYMBOLS[venue])
            stream = dataclasses.replace(stream, heartbeat_interval_s=0.05)
            feed = TradeFeed(
                stream, metrics=metrics, stale_after_s=2, data_stale_after_s=0.5, backoff=FAST
            )
            trades = await asyncio.wait_for(collect(feed, len(TAPE)), 60)
            return trades, feed, server

    trades, feed, server = asyncio.run(main())
    # every trade of the tape, once, in order, with the venue's prices and sizes
    assert [(t.price, t.size, t.side) for t in trades] == [
        (Decimal(t.price), Decimal(t.size), t.side) for t in TAPE
    ]
    assert {t.venue for t in trades} == {venue} and {t.symbol for t in trades} == {SYMBOLS[venue]}
    assert [t.ts_ns for t in trades] == sorted(t.ts_ns for t in trades)
    assert len({t.trade_id for t in trades}) == len(TAPE)
    assert server.connections == 2 and feed.connection.reconnects == 1
    assert counter(metrics, "ws_reconnects", venue) == 1
    if fault == "stall_after":
        assert feed.connection.stale_timeouts == 1
    if venue in SUBSCRIPTION:  # sent again on the new connection
        for received in server.received:
            assert SUBSCRIPTION[venue] in received, received
    if venue in ("kraken", "coinbase", "dydx"):
        # the resubscription's snapshot resent recent trades: dropped by id (or as older)
        assert feed.seen.duplicates + feed.late >= 20
    if venue in ("kraken", "hyperliquid") and fault == "stall_after":
        assert server.pings >= 1  # the venue's application ping (every 50 ms here), a pong back
    assert counter(metrics, "messages", venue) >= len(TAPE)
    assert counter(metrics, "parse_errors", venue) == 0


def test_a_dydx_snapshot_newest_first_is_handed_out_oldest_first():
    async def main():
        tape = TAPE[:50]
        server = VenueStream("dydx", tape, history=30)
        server.pos = 30  # 30 trades happened before we subscribed: the snapshot carries them
        async with server:
            feed = TradeFeed(trade_stream("dydx", server.url, "BTC-USD"), backoff=FAST)
            return await asyncio.wait_for(collect(feed, 50), 30)

    trades = asyncio.run(main())
    assert [t.trade_id for t in trades] == [f"{t.tid:032x}" for t in TAPE[:50]]


def test_the_dedup_window_is_bounded():
    ids = RecentIds(capacity=1000)
    assert all(ids.add(str(i)) for i in range(100_000))
    assert len(ids) == 1000 and "99999" in ids and "98999" not in ids
    assert not ids.add("99500") and ids.duplicates == 1
    assert ids.add("5")  # long gone from the window: a new id again


@pytest.mark.parametrize("venue", sorted(SYMBOLS))
def test_a_paper_session_trades_on_each_venue_stream(tmp_path, venue) -> None:
    """`nzeza paper --feed VENUE`: the session's trades come from the venue's own protocol
    (before: Binance only), its bars and fills as from the same trades in a file."""
    from nzeza.engine.runner import FeedSpec, trade_source
    from nzeza.engine.sources import capture_trades

    tape = capture_tape(limit=3000, files=1)
    inst = session_instrument(SYMBOLS[venue])
    reports = {}

    async def main():
        async with VenueStream(venue, tape) as server:
            for sid, source in (
                (
                    "ws",
                    lambda: trade_source(
                        FeedSpec("venue", SYMBOLS[venue], url=server.url, venue=venue), None
                    ),
                ),
                ("file", lambda: capture_trades([bundled(BINANCE_BTCUSDT[0])], "BTCUSDT")),
            ):
                with Ledger(f"sqlite:///{tmp_path / f'{sid}.sqlite'}") as ledger:
                    venue_db = DurablePaperVenue(tmp_path / f"{sid}-venue.sqlite", [inst], COSTS)
                    cfg = SessionConfig(
                        sid, SmaLike(short=True), "s", {}, inst, COSTS, Decimal(10_000), TF
                    )
                    session = Session(cfg, ledger, venue_db)
                    trades = source()

                    async def limited(trades=trades):
                        n = 0
                        async for t in trades:
                            yield t
                            n += 1
                            if n == len(tape):
                                break

                    reports[sid] = await asyncio.wait_for(session.run(limited()), 120)
                    await venue_db.close()

    asyncio.run(main())
    ws, file = reports["ws"], reports["file"]
    assert ws.bars == file.bars > 20 and ws.fills == file.fills > 0
    assert ws.final_equity == file.final_equity
