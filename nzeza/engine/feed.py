"""A session's trade stream: public trades of one symbol, on the one connection manager.

`TradeFeed` runs a `FeedConnection` (backoff with full jitter, resubscription after every
reconnect, staleness reconnect, circuit breaker, wss with `NZEZA_CA_FILE`) on a venue's
`TradeStream` (`nzeza.feeds.streams`) and hands the session its trades, in order:

- only `Trade` events of the stream's symbol; a message's trades sorted by exchange time (dYdX
  sends its newest first);
- each trade id once, over a sliding window of the last `dedup_window` ids (a venue resends
  recent trades after a reconnect; the memory stays bounded however long the session runs);
- never a trade older than one already handed out, nor older than `from_ns` (a resuming
  session re-reads from there): bars and the paper venue's last price only move forward;
- with backpressure: the connection waits while the session works (a bounded queue), so a
  slow session slows the socket instead of growing memory.

Feed health and counters reach Prometheus (`nzeza_ws_state`, `nzeza_ws_reconnects_total`,
`nzeza_feed_messages_total`, `nzeza_feed_parse_errors_total`; the breaker's state through the
breaker's own listener, see `runner.feed_breaker`) and `/healthz` (`TradeFeed.health`). A
message that does not parse is counted and skipped; the stream goes on. The stream ends when a
replay server closes normally at the end of its tape; `FeedGaveUp` (a `VenueError`) when the
venue stays unreachable for `max_retries` attempts in a row.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from nzeza.errors import ParseError
from nzeza.feeds.connection import Backoff, FeedConnection
from nzeza.feeds.events import Event, FundingUpdate, Trade
from nzeza.feeds.sequence import RecentIds
from nzeza.feeds.streams import TradeStream, replay_stream, trade_stream

if TYPE_CHECKING:
    from nzeza.ops.metrics import Metrics


# FeedConnection state → the nzeza_ws_state gauge's vocabulary
_WS_STATE = {
    "idle": "connecting",
    "connecting": "connecting",
    "open": "connected",
    "backoff": "disconnected",
    "closed": "disconnected",
    "failed": "failed",
}
_END = object()


class TradeFeed:
    """The trades of `stream` as an async iterator (`async for trade in feed`), see the module.

    Args:
        stream: where and how (a `TradeStream`).
        from_ns: drop trades before this exchange time (UTC ns; a resuming session).
        metrics: `nzeza.ops.metrics.Metrics` to export to (optional).
        breaker: a `CircuitBreaker` gating connection attempts (optional).
        ssl_context: verifies a wss:// server (None: the system's trust store).
        live: refuse anything but wss:// (a live session).
        dedup_window: how many recent trade ids are remembered.
        stale_after_s: override the stream's staleness timeout (seconds without any message).
        data_stale_after_s: override the stream's market-data staleness (seconds with nothing but
            heartbeats).
        max_retries / backoff: the connection manager's reconnect policy.
    """

    def __init__(
        self,
        stream: TradeStream,
        *,
        from_ns: int | None = None,
        metrics: Metrics | None = None,
        breaker: Any = None,
        ssl_context: Any = None,
        live: bool = False,
        dedup_window: int = 100_000,
        stale_after_s: float | None = None,
        data_stale_after_s: float | None = None,
        max_retries: int | None = 10,
        backoff: Backoff | None = None,
        queue_size: int = 256,
    ) -> None:
        self.stream = stream
        self.symbol = stream.symbol
        self.from_ns = from_ns
        self.metrics = metrics
        self.seen = RecentIds(dedup_window)
        self.last_ts: int | None = from_ns  # exchange time of the newest trade handed out
        self.trades = 0
        self.late = 0  # trades older than one already handed out (or than from_ns)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._reported_reconnects = 0
        parse, reset = stream.parser()
        if metrics is not None:
            parse = self._counted(parse, metrics)
        self.connection = FeedConnection(
            stream.url,
            venue=stream.venue,
            parse=parse,
            subscriptions=stream.subscriptions,
            stale_after_s=stale_after_s or stream.stale_after_s,
            data_stale_after_s=data_stale_after_s or stream.data_stale_after_s,
            max_retries=max_retries,
            backoff=backoff,
            breaker=breaker,
            reset_parser=reset,
            heartbeat_message=stream.heartbeat_message,
            heartbeat_interval_s=stream.heartbeat_interval_s,
            live=live,
            ssl_context=ssl_context,
            sink=self._sink,
            end_on_normal_close=stream.end_on_normal_close,
            on_state=self._on_state,
        )

    # -- what the connection calls ------------------------------------------------------------
    def _counted(self, parse: Callable[[Any, int | None], list[Event]], metrics: Metrics) -> Any:
        messages = metrics.messages.labels(self.stream.venue)
        errors = metrics.parse_errors.labels(self.stream.venue)

        def counted(raw: Any, recv_ns: int | None) -> list[Event]:
            messages.inc()
            try:
                return parse(raw, recv_ns)
            except ParseError:
                errors.inc()
                raise

        return counted

    def _on_state(self, state: str) -> None:
        if self.metrics is None:
            return
        self.metrics.set_ws_state(self.stream.venue, _WS_STATE.get(state, "disconnected"))
        conn = getattr(self, "connection", None)
        if conn is not None and conn.reconnects > self._reported_reconnects:
            self.metrics.ws_reconnects.labels(self.stream.venue).inc(
                conn.reconnects - self._reported_reconnects
            )
            self._reported_reconnects = conn.reconnects

    async def _sink(self, events: list[Event]) -> None:
        """New trades of our symbol, oldest first, each once, never going back in time."""
        trades = [e for e in events if type(e) is Trade and e.symbol == self.symbol]
        if len(trades) > 1:
            if _ts(trades[0]) > _ts(trades[-1]):
                trades.reverse()  # newest first (dYdX): keeps same-time trades in venue order
            trades.sort(key=_ts)
        for trade in trades:
            ts = _ts(trade)
            if self.last_ts is not None and ts < self.last_ts:
                self.late += 1
                continue
            if not self.seen.add(trade.trade_id):
                continue
            self.last_ts = ts
            self.trades += 1
            await self._queue.put(trade)

    # -- what the session calls ---------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[Trade]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Trade]:
        task = asyncio.ensure_future(self.connection.run())
        task.add_done_callback(self._wake)
        try:
            while True:
                if self._queue.empty() and task.done():
                    task.result()  # FeedGaveUp, or the end of a replay
                    return
                item = await self._queue.get()
                if item is not _END:
                    yield item
        finally:
            await self.connection.close()
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _wake(self, _task: asyncio.Future) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # full: the consumer is not waiting
            self._queue.put_nowait(_END)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """The /healthz view of the connection: open and not stale."""
        conn = self.connection
        age = conn.age_s()
        fresh = age is not None and age <= conn.stale_after_s
        detail = {
            "state": conn.state,
            "last_message_age_s": None if age is None else round(age, 3),
            "reconnects": conn.reconnects,
            "stale_reconnects": conn.stale_timeouts,
            "parse_errors": conn.parse_errors,
            "duplicates": self.seen.duplicates,
            "late": self.late,
        }
        if conn.last_error:
            detail["last_error"] = conn.last_error[:200]
        return conn.state == "open" and fresh, detail


class FundingFeed(TradeFeed):
    """A perpetual's funding updates (`FundingUpdate` of the stream's symbol, in arrival order)
    from a venue's funding stream (`streams.funding_stream`), on the same connection manager
    as trades (reconnect, backoff, breaker). Nothing is de-duplicated here: the session's
    `FundingClock` books each funding time once, however often an update repeats."""

    async def _sink(self, events: list[Event]) -> None:
        for event in events:
            if type(event) is FundingUpdate and event.symbol == self.symbol:
                self.trades += 1
                await self._queue.put(event)


class WithFunding:
    """A session's trades with a perpetual's funding updates merged in as they arrive.

    The trade stream leads: the merged stream ends when it ends (the funding stream is then
    closed), and an error of either stream ends it with that error (a funding stream that
    gives up is not silently dropped). `health` is the trade feed's."""

    def __init__(self, trades: Any, funding: Any, queue_size: int = 256) -> None:
        self.trades = trades
        self.funding = funding
        self.health = getattr(trades, "health", None)
        self._queue_size = queue_size

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue(self._queue_size)

        async def pump(source: Any, last: bool) -> None:
            try:
                async for item in source:
                    await queue.put((None, item))
            except Exception as exc:  # handed to the consumer, raised there
                await queue.put((exc, None))
                return
            if last:
                await queue.put((_END, None))

        tasks = [
            asyncio.ensure_future(pump(self.trades, True)),
            asyncio.ensure_future(pump(self.funding, False)),
        ]
        try:
            while True:
                error, item = await queue.get()
                if error is _END:
                    return
                if error is not None:
                    raise error
                yield item
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _ts(trade: Trade) -> int:
    ts = trade.ts_ns if trade.ts_ns is not None else trade.recv_ns
    return ts or 0


def replay_feed(url: str, symbol: str, *, from_ns: int | None = None, **kw: Any) -> TradeFeed:
    """The trades of `symbol` from nzeza's replay server at `url`, resuming (after a drop) a
    little before the last trade seen, to the end of the tape."""
    holder: dict[str, TradeFeed] = {}

    def resume() -> int | None:
        feed = holder.get("feed")
        return from_ns if feed is None else feed.last_ts

    feed = TradeFeed(replay_stream(url, symbol, resume), from_ns=from_ns, **kw)
    holder["feed"] = feed
    return feed


def venue_feed(venue: str, ws_url: str, symbol: str, **kw: Any) -> TradeFeed:
    """The public trades of `symbol` (any spelling) from `venue`'s stream at `ws_url`."""
    return TradeFeed(trade_stream(venue, ws_url, symbol), **kw)


def session_trades(
    spec: Any,
    from_ns: int | None,
    *,
    metrics: Metrics | None = None,
    breaker: Any = None,
    pace: float = 0.0,
    ssl_context: Any = None,
    live: bool = False,
    stale_after_s: float | None = None,
) -> Any:
    """The trades a `runner.FeedSpec` names: a capture file (`engine.sources.capture_trades`),
    nzeza's replay server, or a venue's public stream (a `TradeFeed`)."""
    if spec.kind in ("capture", "replay"):
        from nzeza.engine.sources import capture_trades

        counted = None
        if metrics is not None:

            def counted(_exc: Exception) -> None:
                metrics.parse_errors.labels(spec.venue).inc()

        return capture_trades(
            spec.paths,
            spec.symbol,
            venue=spec.venue,
            from_ns=from_ns,
            pace=pace,
            on_parse_error=counted,
        )
    kw: dict[str, Any] = dict(
        from_ns=from_ns, metrics=metrics, breaker=breaker, ssl_context=ssl_context
    )
    if stale_after_s is not None:
        kw["stale_after_s"] = stale_after_s
    if spec.kind == "url":
        return replay_feed(spec.url, spec.symbol, **kw)
    return venue_feed(spec.venue, spec.url, spec.symbol, live=live, **kw)


def funding_feed(
    venue: str,
    ws_url: str,
    symbol: str,
    *,
    metrics: Metrics | None = None,
    ssl_context: Any = None,
    live: bool = False,
) -> FundingFeed:
    """The funding updates of perpetual `symbol` (any spelling) from `venue`'s funding stream
    at `ws_url` (`streams.funding_stream`: Binance's USDⓈ-M `markPrice@1s`, Hyperliquid's
    `activeAssetCtx`, dYdX's `v4_markets`)."""
    from nzeza.feeds.streams import funding_stream

    return FundingFeed(
        funding_stream(venue, ws_url, symbol), metrics=metrics, ssl_context=ssl_context, live=live
    )


__all__ = [
    "FundingFeed",
    "TradeFeed",
    "WithFunding",
    "funding_feed",
    "replay_feed",
    "session_trades",
    "venue_feed",
]
