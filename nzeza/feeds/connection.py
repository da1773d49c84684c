"""The asyncio shell around a venue parser: one websocket with reconnect, books and counters.

`FeedConnection` connects (websockets 17 asyncio client), sends its subscriptions, reads
messages with a staleness timeout, parses them (the sans-I/O venue parser), applies book events
to its `OrderBook`s and hands every event to `on_event`. On any connection failure it
reconnects with exponential backoff and full jitter (`Backoff`), gives up with `FeedGaveUp`
after `max_retries` consecutive failures, and resets the failure count once a connection
has stayed up for `stable_after_s`. After every (re)connect all subscriptions are sent again and
every book is invalidated and resynced: through `snapshot_fetcher(symbol)` (Binance: the REST
depth snapshot) or, for venues whose subscription starts with a snapshot, by resubscribing.
A book that falls out of sync while connected (a sequence gap, a Kraken checksum mismatch) is
resynced the same way: a new REST snapshot, the venue's `resubscribe(symbol)` messages, or else
a fresh connection (which restores every subscription, each with its snapshot).
A subscription may be a callable returning the message, called at every send (Coinbase private
channels need a freshly signed JWT each time). `heartbeat_message`, when given, is sent every
`heartbeat_interval_s` (venues that want application pings: Kraken, Hyperliquid); websocket
protocol pings run as well. A `CircuitBreaker` (optional) gates connection attempts.
`FeedManager` runs many connections.

A consumer that must keep up with the stream (a session turning trades into bars and orders)
passes an async `sink(events)`: it is awaited for every parsed message before the next one is
read, so a slow consumer slows the socket (TCP flow control) instead of growing a queue. The
URL may be a callable, evaluated at every connect (nzeza's replay server takes the resume
point in its query string). With `end_on_normal_close` a close with code 1000 ends `run()`
(the end of a replay tape) instead of reconnecting; a venue's close is always a reconnect.
`ssl_context` verifies a wss:// server (`NZEZA_CA_FILE`); `on_state(state)` is told of every
state change (the metrics layer exports it).

Counters are plain attributes (`messages`, `parse_errors`, `reconnects`, `connects`,
`snapshots_fetched`, `state`) for the metrics layer to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
)

from nzeza.errors import ConfigError, ParseError, VenueError
from nzeza.feeds.book import OrderBook
from nzeza.feeds.breaker import CircuitBreaker
from nzeza.feeds.events import (
    BookDelta,
    BookSnapshot,
    Event,
    Heartbeat,
    SequenceGap,
    SubscriptionAck,
)
from nzeza.ops.backoff import Backoff  # full jitter: reconnect storms spread out
from nzeza.ops.logging import get_logger

log = get_logger(__name__)

Parser = Callable[[Any, int | None], list[Event]]
_KEEPALIVE = (Heartbeat, SubscriptionAck)  # messages that prove the socket, not the data
SnapshotFetcher = Callable[[str], Awaitable[list[Event]]]
Sink = Callable[[list[Event]], Awaitable[None]]


class FeedGaveUp(VenueError):
    """Reconnecting failed `max_retries` times in a row."""

    def __init__(self, venue: str, url: str, attempts: int, last_error: str) -> None:
        super().__init__(
            venue,
            f"gave up on {url} after {attempts} failed connection attempts; last error: "
            f"{last_error}",
            retryable=False,
            code="feed_gave_up",
        )
        self.attempts = attempts
        self.last_error = last_error


class FeedConnection:
    """One websocket to one venue endpoint.

    Args:
        url: ws:// or wss:// endpoint, or a callable returning it (called at every connect).
        venue: venue name (errors, logs).
        parse: `parse(raw, recv_ns) -> list[Event]` (a module's `parse` or a stateful parser's).
        subscriptions: JSON-able messages sent after every connect, in order.
        books: symbol → OrderBook fed by this connection's book events.
        snapshot_fetcher: async `symbol -> [BookSnapshot]` used to (re)sync books (Binance REST);
            without one, books are resynced by the snapshot that a fresh subscription brings.
        on_event: called with every parsed event (sync function).
        stale_after_s: no message for this long → the connection is considered dead.
        data_stale_after_s: no market data (anything but heartbeats, pongs and subscription
            acknowledgements) for this long → reconnect too: a venue that still answers pings
            but stopped sending data (None: off).
        ping_interval_s: websocket ping period (protocol-level keep-alive).
        max_retries: consecutive failed attempts before `FeedGaveUp`; None retries forever.
        stable_after_s: a connection up this long resets the failure count (and backoff).
        backoff: the delay policy; breaker: optional circuit breaker gating attempts.
        reset_parser: called on each new connection (stateful parsers reset their sequence).
        resubscribe: `symbol -> [messages]` that make the venue send a fresh snapshot of one
            book on the open connection (e.g. Kraken unsubscribe + subscribe); without it and
            without a snapshot fetcher, an out-of-sync book makes the connection reconnect.
        heartbeat_message / heartbeat_interval_s: an application-level ping and its period.
        resync_timeout_s: a book resubscribed on the open connection that has no snapshot after
            this long makes the connection reconnect (the venue ignored the resubscription).
        live: a live feed must use a wss:// endpoint (ConfigError otherwise).
        ssl_context: TLS context for wss:// (None: the system's trust store).
        sink: async `sink(events)` awaited for every parsed message (backpressure).
        end_on_normal_close: a close with code 1000 ends `run()` (a replay's end of tape).
        on_state: called with the new state at every state change.
    """

    def __init__(
        self,
        url: str | Callable[[], str],
        *,
        venue: str,
        parse: Parser,
        subscriptions: Iterable[Any] = (),
        books: dict[str, OrderBook] | None = None,
        snapshot_fetcher: SnapshotFetcher | None = None,
        on_event: Callable[[Event], None] | None = None,
        stale_after_s: float = 30.0,
        data_stale_after_s: float | None = None,
        ping_interval_s: float | None = 20.0,
        max_retries: int | None = 10,
        stable_after_s: float = 30.0,
        backoff: Backoff | None = None,
        breaker: CircuitBreaker | None = None,
        reset_parser: Callable[[], None] | None = None,
        resubscribe: Callable[[str], Iterable[Any]] | None = None,
        heartbeat_message: Any = None,
        heartbeat_interval_s: float = 20.0,
        resync_timeout_s: float = 10.0,
        snapshot_retry_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        live: bool = False,
        ssl_context: Any = None,
        sink: Sink | None = None,
        end_on_normal_close: bool = False,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self._url = url
        url = self.url
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("ws", "wss"):
            raise ConfigError(f"{venue}.ws_url", f"scheme {scheme!r} is not a websocket")
        if live and scheme != "wss":
            raise ConfigError(f"{venue}.ws_url", "live feeds must use wss://", "use the TLS url")
        if heartbeat_message is not None and not heartbeat_interval_s > 0:
            raise ConfigError(f"{venue}.heartbeat_interval_s", "must be positive")
        self.venue = venue
        self._parse = parse
        self.ssl_context = ssl_context
        self._sink = sink
        self.end_on_normal_close = end_on_normal_close
        self._on_state = on_state
        self._state = "idle"
        self.ended = False  # the server closed normally and end_on_normal_close was set
        self.subscriptions: list[Any] = list(subscriptions)
        self.books: dict[str, OrderBook] = dict(books or {})
        self._fetch = snapshot_fetcher
        self.on_event = on_event
        self.stale_after_s = stale_after_s
        self.data_stale_after_s = data_stale_after_s
        self._last_data_at = 0.0
        self.ping_interval_s = ping_interval_s
        self.max_retries = max_retries
        self.stable_after_s = stable_after_s
        self.backoff = backoff or Backoff()
        self.breaker = breaker
        self._reset_parser = reset_parser
        self._resubscribe = resubscribe
        self.heartbeat_message = heartbeat_message
        self.heartbeat_interval_s = heartbeat_interval_s
        self.resync_timeout_s = resync_timeout_s
        self.snapshot_retry_s = snapshot_retry_s
        self._clock = clock
        self._ws: Any = None
        self._closing = False
        self._dropping = False  # a deliberate reconnect (resync) is under way
        self._connecting = False  # subscriptions just sent: their snapshots are on the way
        self._awaiting_snapshot: set[str] = set()  # books resubscribed, snapshot not yet in
        self._pending_fetch: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self.connected = asyncio.Event()
        # Counters (plain attributes); `state` is idle | connecting | open | backoff | closed |
        # failed.
        self.messages = 0
        self.parse_errors = 0
        self.reconnects = 0
        self.connects = 0
        self.failures = 0
        self.sequence_gaps = 0
        self.snapshots_fetched = 0
        self.resubscribes = 0
        self.stale_timeouts = 0
        self.heartbeats_sent = 0
        self.last_error = ""
        self.last_parse_error: ParseError | None = None
        self.last_message_at: float | None = None
        for book in self.books.values():
            book.on_resync = self._on_book_resync

    # ------------------------------------------------------------------ public API

    @property
    def url(self) -> str:
        """The endpoint of the next (or current) connection."""
        return self._url() if callable(self._url) else self._url

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        if value != self._state:
            self._state = value
            if self._on_state is not None:
                self._on_state(value)

    def age_s(self) -> float | None:
        """Seconds since the last message (any message, heartbeats included); None if none."""
        if self.last_message_at is None:
            return None
        return self._clock() - self.last_message_at

    def add_book(self, book: OrderBook) -> None:
        """Feed `book` from this connection (resynced on every reconnect)."""
        book.on_resync = self._on_book_resync
        self.books[book.symbol] = book

    async def subscribe(self, message: Any) -> None:
        """Add a subscription: sent now if connected, and again after every reconnect.

        `message` may be a zero-argument callable returning the message, called at each send.
        """
        self.subscriptions.append(message)
        if self._ws is not None:
            await self._ws.send(_dumps(message))

    async def run(self) -> None:
        """Connect and read until `close()`; raises `FeedGaveUp` after too many failures."""
        attempt = 0
        while not self._closing:
            if self.breaker is not None and not self.breaker.allow():
                self.state = "backoff"
                await self._sleep(self.breaker.seconds_until_retry())
                continue
            self.state = "connecting"
            started = self._clock()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except ConnectionClosedOK as exc:
                if self.end_on_normal_close and not self._dropping:
                    self.ended = True  # the server said this is the end
                elif not self._closing:
                    self.last_error = f"{type(exc).__name__}: {exc}"
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                if not self._closing:
                    self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                self.connected.clear()
            if self._closing or self.ended:
                break
            if self._dropping:
                # We closed it to resync: not a failure, reconnect at once (jittered).
                self.reconnects += 1
                self.state = "backoff"
                await self._sleep(self.backoff.delay(0))
                continue
            self.failures += 1
            if self.breaker is not None:
                self.breaker.record_failure(self.last_error)
            if self._clock() - started >= self.stable_after_s:
                attempt = 0  # the connection was stable: start backing off from scratch
            attempt += 1
            if self.max_retries is not None and attempt > self.max_retries:
                self.state = "failed"
                raise FeedGaveUp(self.venue, self.url, attempt - 1, self.last_error)
            for book in self.books.values():
                if book.in_sync:
                    book.invalidate(f"connection lost: {self.last_error}")
            self.reconnects += 1
            self.state = "backoff"
            delay = self.backoff.delay(attempt - 1)
            log.info(
                "feed reconnecting",
                extra={"venue": self.venue, "attempt": attempt, "delay_s": round(delay, 3)},
            )
            await self._sleep(delay)
        self.state = "closed"

    async def close(self) -> None:
        """Stop reading, close the socket, cancel snapshot fetches."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.state != "failed":  # a connection that gave up stays failed
            self.state = "closed"

    def drop(self) -> None:
        """Force a reconnect, which restores every subscription (once per connection)."""
        ws = self._ws
        if ws is not None and not self._dropping:
            self._dropping = True
            self._spawn(ws.close(code=4000, reason="resubscribe"))

    # ------------------------------------------------------------------ internals

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not self._closing:
            await asyncio.sleep(seconds)

    async def _session(self) -> None:
        url = self.url
        tls = {"ssl": self.ssl_context} if self.ssl_context is not None else {}
        if not url.lower().startswith("wss:"):
            tls = {}
        async with connect(
            url,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_interval_s,
            max_size=2**24,
            open_timeout=10,
            close_timeout=2,
            **tls,
        ) as ws:
            self._ws = ws
            self._dropping = False
            self._awaiting_snapshot.clear()
            self.connects += 1
            self.state = "open"
            if self._reset_parser is not None:
                self._reset_parser()
            self._connecting = True
            try:
                for message in self.subscriptions:
                    await ws.send(_dumps(message))
                for book in self.books.values():
                    # A fresh stream: whatever the book held may have missed updates meanwhile.
                    if book.in_sync or not book.needs_snapshot or book.last_update_id is not None:
                        book.invalidate("reconnected")
                    elif self._fetch is not None:
                        self._schedule_fetch(book.symbol)
            finally:
                self._connecting = False
            self.connected.set()
            if self.breaker is not None:
                self.breaker.record_success()
            heartbeat = (
                self._spawn(self._heartbeat(ws)) if self.heartbeat_message is not None else None
            )
            stale, data_stale = self.stale_after_s, self.data_stale_after_s
            self._last_data_at = self._clock()
            try:
                while True:
                    timeout = stale
                    if data_stale is not None:
                        left = data_stale - (self._clock() - self._last_data_at)
                        timeout = min(stale, max(0.0, left))
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout)
                    except TimeoutError:
                        self.stale_timeouts += 1
                        if timeout < stale:
                            raise TimeoutError(
                                f"no market data for {data_stale:g}s (stale)"
                            ) from None
                        raise TimeoutError(f"no message for {stale:g}s (stale)") from None
                    events = self._on_raw(raw, time.time_ns())
                    if self._sink is not None and events:
                        await self._sink(events)
                    if self._closing:
                        return
            finally:
                if heartbeat is not None:
                    heartbeat.cancel()

    async def _heartbeat(self, ws: Any) -> None:
        """Send the venue's application ping every `heartbeat_interval_s` while connected."""
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            await ws.send(_dumps(self.heartbeat_message))
            self.heartbeats_sent += 1

    def _on_raw(self, raw: Any, recv_ns: int) -> list[Event]:
        self.messages += 1
        self.last_message_at = self._clock()
        try:
            events = self._parse(raw, recv_ns)
        except ParseError as exc:
            self.parse_errors += 1
            self.last_parse_error = exc
            return []
        for ev in events:
            if type(ev) not in _KEEPALIVE:
                self._last_data_at = self.last_message_at
                break
        books = self.books
        for ev in events:
            kind = type(ev)
            if kind is BookDelta or kind is BookSnapshot:
                update = cast("BookDelta | BookSnapshot", ev)  # the exact-type test narrows it
                book = books.get(update.symbol)
                if book is not None:
                    book.apply(update)
                    if kind is BookSnapshot and book.in_sync:
                        self._awaiting_snapshot.discard(update.symbol)
            elif kind is SequenceGap:
                gap = cast(SequenceGap, ev)
                self.sequence_gaps += 1
                for book in books.values():
                    book.invalidate(f"sequence gap {gap.expected}->{gap.received}")
            if self.on_event is not None:
                self.on_event(ev)
        return events

    def _on_book_resync(self, book: OrderBook, reason: str) -> None:
        """A book needs a new snapshot: fetch one, resubscribe it, or reconnect."""
        ws = self._ws
        if ws is None or self._closing:
            return  # disconnected: the next connection resyncs every book
        if self._fetch is not None:
            self._schedule_fetch(book.symbol)
            return
        if self._connecting or book.symbol in self._awaiting_snapshot:
            return  # a subscription just sent brings the snapshot
        self._awaiting_snapshot.add(book.symbol)
        self.resubscribes += 1
        log.info(
            "feed book resync",
            extra={"venue": self.venue, "symbol": book.symbol, "reason": reason[:200]},
        )
        if self._resubscribe is not None:
            messages = [_dumps(m) for m in self._resubscribe(book.symbol)]
            self._spawn(_send_all(ws, messages))
            self._spawn(self._resync_watchdog(book.symbol, ws))
        else:
            self.drop()

    async def _resync_watchdog(self, symbol: str, ws: Any) -> None:
        await asyncio.sleep(self.resync_timeout_s)
        if self._ws is ws and symbol in self._awaiting_snapshot:
            self.last_error = (
                f"no snapshot for {symbol} {self.resync_timeout_s:g}s after resubscribe"
            )
            self.drop()

    def _schedule_fetch(self, symbol: str) -> None:
        task = self._pending_fetch.get(symbol)
        if task is not None and not task.done():
            return
        self._pending_fetch[symbol] = self._spawn(self._fetch_snapshot(symbol))

    def _spawn(self, coro: Awaitable) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A send on a connection that just closed: the reconnect handles it.
            self.last_error = f"{type(task.exception()).__name__}: {task.exception()}"

    async def _fetch_snapshot(self, symbol: str) -> None:
        assert self._fetch is not None
        book = self.books[symbol]
        # Let a few diffs buffer first, so the snapshot is not older than the stream start.
        await asyncio.sleep(self.snapshot_retry_s / 4)
        for _ in range(20):
            if self._closing or self._ws is None:
                return
            try:
                events = await self._fetch(symbol)
            except (OSError, VenueError, ParseError, TimeoutError) as exc:
                self.last_error = f"snapshot {symbol}: {type(exc).__name__}: {exc}"
                await asyncio.sleep(self.snapshot_retry_s)
                continue
            self.snapshots_fetched += 1
            for ev in events:
                if type(ev) is BookSnapshot:
                    book.apply(ev)
            if not book.needs_snapshot:
                return
            await asyncio.sleep(self.snapshot_retry_s)


def _dumps(message: Any) -> str:
    if callable(message):
        message = message()  # built at send time (e.g. a subscription with a fresh JWT)
    if isinstance(message, (str, bytes)):
        return message if isinstance(message, str) else message.decode()
    return orjson.dumps(message).decode()


async def _send_all(ws: Any, messages: list[str]) -> None:
    for text in messages:
        await ws.send(text)


def binance_rest_snapshot(
    base_url: str, limit: int = 1000, timeout_s: float = 5.0
) -> SnapshotFetcher:
    """A snapshot fetcher for Binance: GET /api/v3/depth, parsed into a BookSnapshot.

    Uses urllib in a worker thread with proxies disabled (loopback and venue hosts only).
    """
    import urllib.error
    import urllib.request

    from nzeza.feeds import binance

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(url: str) -> bytes:
        try:
            with opener.open(url, timeout=timeout_s) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            raise VenueError("binance", f"depth snapshot HTTP {exc.code}", retryable=True) from None

    async def fetch(symbol: str) -> list[Event]:
        url = binance.depth_snapshot_url(base_url, symbol, limit)
        body = await asyncio.to_thread(get, url)
        return binance.parse(body, time.time_ns(), symbol=symbol)

    return fetch


class FeedManager:
    """Runs many `FeedConnection`s concurrently and shuts them all down cleanly."""

    def __init__(self) -> None:
        self.connections: list[FeedConnection] = []
        self._tasks: list[asyncio.Task] = []

    def add(self, conn: FeedConnection) -> FeedConnection:
        self.connections.append(conn)
        return conn

    def start(self) -> None:
        """Start every added connection's `run()` as a task."""
        for conn in self.connections[len(self._tasks) :]:
            self._tasks.append(asyncio.ensure_future(conn.run()))

    @property
    def failed(self) -> list[BaseException]:
        out: list[BaseException] = []
        for t in self._tasks:
            exc = t.exception() if t.done() and not t.cancelled() else None
            if exc is not None:
                out.append(exc)
        return out

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections), return_exceptions=True)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def counters(self) -> dict[str, int]:
        """Summed counters across connections."""
        keys = ("messages", "parse_errors", "reconnects", "connects", "snapshots_fetched")
        return {k: sum(getattr(c, k) for c in self.connections) for k in keys}


__all__ = [
    "Backoff",
    "FeedConnection",
    "FeedGaveUp",
    "FeedManager",
    "SnapshotFetcher",
    "binance_rest_snapshot",
]
