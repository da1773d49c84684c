"""Trade sources for sessions: a recorded capture (file) or a websocket feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from nzeza.feeds.events import Trade


async def capture_trades(
    paths: Iterable[str | Path],
    symbol: str,
    venue: str = "binance",
    from_ns: int | None = None,
    pace: float = 0.0,
) -> AsyncIterator[Trade]:
    """The public trades of a `<ns> <json>` capture, from exchange time `from_ns` on.

    `pace` > 0 sleeps that many seconds between trades (lets a test kill a session mid-run).
    """
    from importlib import import_module

    from nzeza.feeds.capture import read_capture

    parser = import_module(f"nzeza.feeds.{venue}")
    for path in paths:
        for recv_ns, raw in read_capture(path):
            for event in parser.parse(raw, recv_ns, symbol):
                if type(event) is not Trade:
                    continue
                if from_ns is not None and (event.ts_ns or 0) < from_ns:
                    continue
                yield event
                if pace:
                    await asyncio.sleep(pace)
                else:
                    await asyncio.sleep(0)


async def websocket_trades(
    url: str,
    symbol: str,
    from_ns: int | None = None,
    max_retries: int = 10,
    metrics: Any = None,
    venue: str = "binance",
) -> AsyncIterator[Trade]:
    """Public trades from a Binance-protocol websocket (the replay server, or Binance).

    Reconnects with exponential backoff and full jitter on an abnormal close, asking the replay
    server to resume from the last trade seen (`from_ns`) and dropping trades already yielded;
    a normal close (the end of a replay) ends the stream.
    """
    import random
    import time

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

    from nzeza.errors import ParseError, VenueError
    from nzeza.feeds import binance

    def state(name: str) -> None:
        if metrics is not None:
            metrics.set_ws_state(venue, name)

    stream = f"{symbol.lower()}@trade"
    cursor = from_ns or 0
    seen: set[str] = set()
    failures = 0
    while True:
        # receive times run a little ahead of exchange times: start 5 s early, filter below
        query = f"streams={stream}&close_at_end=1&from_ns={max(0, cursor - 5_000_000_000)}"
        try:
            state("connecting")
            async with connect(f"{url.rstrip('/')}/stream?{query}", max_size=2**22) as ws:
                state("connected")
                async for raw in ws:
                    failures = 0
                    if metrics is not None:
                        metrics.messages.labels(venue).inc()
                    try:
                        events = binance.parse(raw, time.time_ns(), symbol)
                    except ParseError:  # counted; the feed keeps going
                        if metrics is not None:
                            metrics.parse_errors.labels(venue).inc()
                        continue
                    for event in events:
                        if type(event) is not Trade or event.trade_id in seen:
                            continue
                        if from_ns is not None and (event.ts_ns or 0) < from_ns:
                            continue
                        seen.add(event.trade_id)
                        cursor = max(cursor, event.ts_ns or cursor)
                        yield event
            state("disconnected")
            return
        except ConnectionClosedOK:
            state("disconnected")
            return
        except (ConnectionClosed, OSError) as exc:
            failures += 1
            state("disconnected")
            if metrics is not None:
                metrics.ws_reconnects.labels(venue).inc()
            if failures > max_retries:
                state("failed")
                raise VenueError(
                    "feed", f"gave up after {max_retries} reconnects: {exc}", retryable=True
                ) from None
            await asyncio.sleep(random.uniform(0, min(5.0, 0.1 * 2**failures)))
