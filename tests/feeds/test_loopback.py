"""Real sockets on 127.0.0.1: replay server with faults ↔ FeedConnection with a Binance book.

Must-show: after K forced disconnects (plus injected gaps, duplicates, malformed messages) the
client holds the same subscriptions, its book is resynced through the REST snapshot and passes
the exchange-made bookTicker check again; a fuzzed stream never crashes the feed.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from nzeza.feeds import binance
from nzeza.feeds.book import OrderBook
from nzeza.feeds.capture import BINANCE_ETHUSDT, bundled
from nzeza.feeds.check import BookTickerCheck
from nzeza.feeds.connection import (
    Backoff,
    FeedConnection,
    FeedGaveUp,
    FeedManager,
    binance_rest_snapshot,
)
from nzeza.feeds.events import BestBidAsk
from nzeza.feeds.replay import Faults, ReplayServer

STREAMS = binance.stream_names("ETHUSDT")
# 200x capture time (~2 s for the ETH capture): paced like a live venue, so the REST snapshot
# is "now" for the client, not minutes ahead of what sits in loopback socket buffers.
SPEED = 200.0


def _client(server: ReplayServer, book: OrderBook, check: BookTickerCheck, **kw) -> FeedConnection:
    phase = {"checks_at_reconnect": []}

    def on_event(ev):
        if type(ev) is BestBidAsk:
            check.on_ticker(ev)
        else:
            check.after_apply()

    conn = FeedConnection(
        server.url,
        venue="binance",
        parse=lambda raw, ns: binance.parse(raw, ns),
        subscriptions=[binance.subscribe_message(STREAMS, 1)],
        books={"ETHUSDT": book},
        snapshot_fetcher=binance_rest_snapshot(server.http_url),
        on_event=on_event,
        stale_after_s=5,
        ping_interval_s=None,
        backoff=Backoff(base_s=0.01, cap_s=0.05, rng=random.Random(1)),
        stable_after_s=0.5,
        snapshot_retry_s=0.02,
        **kw,
    )
    conn.phase = phase
    return conn


async def _run_until_finished(
    server: ReplayServer, conn: FeedConnection, timeout: float = 60
) -> None:
    task = asyncio.ensure_future(conn.run())
    try:
        await asyncio.wait_for(server.finished.wait(), timeout)
        seen = -1
        while conn.messages != seen:  # let the client drain what is in flight
            seen = conn.messages
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
        await asyncio.wait_for(task, 5)


def test_forced_disconnects_restore_subscriptions_and_resync_the_book():
    async def main():
        faults = Faults(drop_every=4000, gap_every=150, duplicate_every=97, malformed_every=1001)
        async with ReplayServer(
            [bundled(n) for n in BINANCE_ETHUSDT], speed=SPEED, faults=faults
        ) as server:
            book = OrderBook("binance", "ETHUSDT")
            check = BookTickerCheck(book)
            checks_after_each_connect: list[int] = []
            conn = _client(server, book, check)
            orig_session = conn._session

            async def session_spy():
                checks_after_each_connect.append(check.checks)
                await orig_session()

            conn._session = session_spy
            await _run_until_finished(server, conn)
            return server, conn, book, check, checks_after_each_connect

    server, conn, book, check, marks = asyncio.run(main())
    k = server.drops
    print(
        f"\nloopback: {k} forced disconnects, {server.gaps_injected} gaps, {conn.parse_errors} "
        f"malformed, {conn.snapshots_fetched} REST snapshots, {check.checks} bookTicker checks, "
        f"{len(check.mismatches)} mismatches"
    )
    assert k >= 5 and conn.reconnects >= k
    assert server.subscriptions_log == [frozenset(STREAMS)] * (k + 1)  # same subs every time
    assert conn.parse_errors >= 20  # malformed messages counted, feed kept going
    assert book.gaps >= 3  # injected gaps detected by U/u...
    assert conn.snapshots_fetched >= k + book.gaps  # ...and after every reconnect: REST resync
    assert check.mismatches == []
    # The exchange-made check passed again after every reconnect.
    gains = [b - a for a, b in zip(marks, [*marks[1:], check.checks], strict=True)]
    assert all(g > 5 for g in gains), gains
    assert book.in_sync and conn.state == "closed"


def test_fuzzed_stream_never_crashes_the_feed():
    async def main():
        faults = Faults(
            malformed_every=3,
            duplicate_every=5,
            gap_every=50,
            drop_every=2500,
            delay_every=1000,
            delay_s=0.01,
        )
        async with ReplayServer(
            [bundled(n) for n in BINANCE_ETHUSDT], speed=SPEED, faults=faults
        ) as server:
            book = OrderBook("binance", "ETHUSDT")
            check = BookTickerCheck(book)
            conn = _client(server, book, check)
            await _run_until_finished(server, conn)
            return conn, check, server

    conn, check, _server = asyncio.run(main())
    assert conn.parse_errors > 1000 and conn.messages > 10_000
    assert check.mismatches == [] and check.checks > 50
    assert conn.state == "closed"


def test_gives_up_after_max_retries_with_a_clear_error():
    async def main():
        conn = FeedConnection(
            "ws://127.0.0.1:9/stream",  # discard port: nothing listens
            venue="binance",
            parse=binance.parse,
            max_retries=3,
            backoff=Backoff(base_s=0.001, cap_s=0.002),
        )
        with pytest.raises(FeedGaveUp) as err:
            await conn.run()
        return conn, err.value

    conn, err = asyncio.run(main())
    assert err.attempts == 3 and conn.failures == 4 and conn.state == "failed"
    assert "after 3 failed connection attempts" in str(err)


def test_many_concurrent_connections_and_clean_shutdown():
    async def main():
        servers = [
            await ReplayServer([bundled(BINANCE_ETHUSDT[0])], speed=50.0).start() for _ in range(8)
        ]
        manager = FeedManager()
        for s in servers:
            manager.add(
                FeedConnection(
                    s.url,
                    venue="binance",
                    parse=binance.parse,
                    subscriptions=[binance.subscribe_message(STREAMS, 1)],
                    ping_interval_s=None,
                )
            )
        manager.start()
        await asyncio.sleep(0.5)
        counts = manager.counters()
        await manager.close()
        for s in servers:
            await s.stop()
        return manager, counts

    manager, counts = asyncio.run(main())
    assert all(c.messages > 0 for c in manager.connections)
    assert all(c.state == "closed" for c in manager.connections)
    assert counts["connects"] == 8 and not manager.failed


def test_backoff_full_jitter_bounds():
    b = Backoff(base_s=0.5, cap_s=4, rng=random.Random(3))
    assert [b.ceiling(n) for n in range(5)] == [0.5, 1, 2, 4, 4]
    for n in range(8):
        assert 0 <= b.delay(n) <= b.ceiling(n)
