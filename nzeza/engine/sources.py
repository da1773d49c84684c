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
    on_parse_error: Any = None,
) -> AsyncIterator[Trade]:
    """The public trades of `symbol` (the venue's spelling) in a `<ns> <json>` capture of
    `venue`'s messages, from exchange time `from_ns` on.

    A message that does not parse is skipped, as a live feed skips it (`on_parse_error(exc)` is
    told). `pace` > 0 sleeps that many seconds between trades (lets a test kill a session
    mid-run).
    """
    from importlib import import_module

    from nzeza.errors import ParseError
    from nzeza.feeds.capture import read_capture

    parse = import_module(f"nzeza.feeds.{venue}").parse
    for path in paths:
        for recv_ns, raw in read_capture(path):
            try:
                events = parse(raw, recv_ns)
            except ParseError as exc:
                if on_parse_error is not None:
                    on_parse_error(exc)
                continue
            for event in events:
                if type(event) is not Trade or event.symbol != symbol:
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
    *,
    replay: bool = True,
    breaker: Any = None,
    ssl_context: Any = None,
) -> AsyncIterator[Trade]:
    """Public trades from a Binance-protocol websocket (the replay server, or Binance).

    Reconnects with exponential backoff and full jitter on an abnormal close and drops trades
    already yielded (by trade id) and trades before `from_ns`. With `replay=True` (nzeza's replay
    server) it also asks the server to resume from the last trade seen and to close at the end
    of the tape, and a normal close ends the stream; with `replay=False` (a venue: only the
    venue's own `streams=` query is sent) every close is a reconnect. A `breaker`
    (`nzeza.feeds.breaker.CircuitBreaker`) gates connection attempts: while it is open the
    stream waits for it instead of hammering the venue. `ssl_context` verifies a wss:// server
    (default: the system's trust store).
    """
    import random
    import time

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

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
        query = f"streams={stream}"
        if replay:  # receive times run a little ahead of exchange times: start 5 s early
            query += f"&close_at_end=1&from_ns={max(0, cursor - 5_000_000_000)}"
        if breaker is not None:
            while not breaker.allow():
                state("disconnected")
                await asyncio.sleep(max(0.01, breaker.seconds_until_retry()))
        error: BaseException | None = None
        try:
            state("connecting")
            tls = {"ssl": ssl_context} if ssl_context is not None and url.startswith("wss") else {}
            async with connect(f"{url.rstrip('/')}/stream?{query}", max_size=2**22, **tls) as ws:
                state("connected")
                if breaker is not None:
                    breaker.record_success()
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
        except ConnectionClosedOK:
            pass  # a normal close
        except (ConnectionClosed, InvalidHandshake, OSError) as exc:
            error = exc
        state("disconnected")
        if error is None and replay:
            return  # the end of the tape
        reason = f"{type(error).__name__}: {error}" if error else "closed by the venue"
        failures += 1
        if breaker is not None:
            breaker.record_failure(reason)
        if metrics is not None:
            metrics.ws_reconnects.labels(venue).inc()
        if failures > max_retries:
            state("failed")
            raise VenueError(
                venue, f"feed gave up after {max_retries} reconnects: {reason}", retryable=True
            ) from None
        await asyncio.sleep(random.uniform(0, min(5.0, 0.1 * 2**failures)))
