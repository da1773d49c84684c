"""Replay server: serves capture files over a real websocket in the venue's own format.

`ReplayServer(files, port=..., speed=..., faults=Faults(...))` listens on 127.0.0.1. A client
connects (`ws://host:port/stream`), subscribes the Binance way (`{"method": "SUBSCRIBE",
"params": [streams], "id": n}` → `{"result": null, "id": n}`) or with `?streams=a/b` in the URL,
and receives the capture's messages of those streams byte for byte. Captures without a
`stream` wrapper (Hyperliquid) are sent whole after any subscribe message.

The server keeps the exchange's side of each Binance book (capture snapshot + every diff, also
the ones a fault kept from the client), and answers `GET /api/v3/depth?symbol=S&limit=N` on the
same port with that book, as Binance's REST API would: a client can resync after a disconnect.

One tape (position in the captures) is shared by all connections: a reconnecting client
continues where the stream was, like a live venue. Fault injection per connection: drop the
connection every N messages, delay every N messages, a malformed message every N, a duplicate
every N, a skipped depth diff (sequence gap) every N, a connection that goes silent without
closing after N messages (a stale feed).

`record(url, subscriptions, path)` writes what a websocket sends in the capture format.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from nzeza.feeds import binance
from nzeza.feeds.book import OrderBook
from nzeza.feeds.capture import CaptureWriter, read_capture
from nzeza.feeds.events import BookDelta, BookSnapshot
from nzeza.ops.logging import get_logger

log = get_logger(__name__)

MALFORMED = '{"stream":"replay@fault","data":{"e":"depthUpdate","U":"broken'


@dataclass(frozen=True)
class Faults:
    """Fault injection, counted per connection in messages sent (0 disables each)."""

    drop_every: int = 0
    delay_every: int = 0
    delay_s: float = 0.0
    malformed_every: int = 0
    duplicate_every: int = 0
    gap_every: int = 0  # skip every Nth depth diff (the server's book still applies it)
    max_drops: int | None = None  # stop dropping after this many drops in total
    # after this many messages a connection goes silent without closing (a stale feed: only
    # the client's staleness timeout can tell); at most `max_stalls` connections in total
    stall_after: int = 0
    max_stalls: int | None = 1


@dataclass
class _Item:
    ns: int
    raw: str
    stream: str | None
    kind: str  # "depth" | "snapshot" | "other"
    symbol: str


def load_tape(files: Iterable[str | Path]) -> list[_Item]:
    """Read captures; classify each line once (stream name, kind, symbol); one tape in
    receive-time order."""
    items: list[_Item] = []
    last_symbol = ""
    for path in files:
        for ns, raw in read_capture(path):
            msg = orjson.loads(raw)
            stream = msg.get("stream") if isinstance(msg, dict) else None
            kind = "other"
            symbol = ""
            if stream is not None:
                symbol = binance.symbol_of_stream(stream)
                last_symbol = symbol
                if "@depth" in stream:
                    kind = "depth"
            elif isinstance(msg, dict) and "lastUpdateId" in msg:
                kind, symbol = "snapshot", last_symbol
            items.append(_Item(ns, raw, stream, kind, symbol))
    # captures of several symbols over the same hours (BTCUSDT + ETHUSDT) are one tape in
    # receive-time order, as the venue sent them; a stable sort keeps each file's own order
    # (and leaves consecutive files of one symbol as they are)
    items.sort(key=lambda it: it.ns)
    return items


class _Tape:
    """Position in the captures plus the exchange-side books it implies."""

    def __init__(self, items: list[_Item], loop_forever: bool = False) -> None:
        self.items = items
        self.pos = 0
        self.loop_forever = loop_forever
        self.books: dict[str, OrderBook] = {}
        self.finished = asyncio.Event()

    def seek(self, ns: int) -> None:
        """Start at the first message received at or after `ns` (a resuming session)."""
        import bisect

        self.pos = bisect.bisect_left([it.ns for it in self.items], ns)

    def next(self) -> _Item | None:
        while True:
            if self.pos >= len(self.items):
                if not self.loop_forever or not self.items:
                    self.finished.set()
                    return None
                self.pos = 0
            item = self.items[self.pos]
            self.pos += 1
            if item.kind == "depth" or item.kind == "snapshot":
                book = self.books.get(item.symbol)
                if book is None:
                    book = self.books[item.symbol] = OrderBook("binance", item.symbol)
                for ev in binance.parse(item.raw, item.ns, symbol=item.symbol):
                    if type(ev) in (BookDelta, BookSnapshot):
                        book.apply(cast("BookDelta | BookSnapshot", ev))
                if item.kind == "snapshot":
                    continue  # REST, not a stream message
            return item


class ReplayServer:
    """Serves captures over websocket + the Binance REST depth snapshot, on 127.0.0.1.

    Args:
        files: capture paths, replayed as one stream in receive-time order (several symbols
            captured over the same hours interleave as the venue sent them).
        host, port: listen address (port 0 picks a free port; see `.port`).
        speed: 1.0 = capture timing, 10.0 = ten times faster, None = as fast as possible.
        faults: fault injection settings.
        loop_forever: start the tape again at its end (demo sessions).
        on_send: called with (item raw text, time.perf_counter_ns()) after each stream send.
    """

    def __init__(
        self,
        files: Iterable[str | Path],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = None,
        faults: Faults | None = None,
        loop_forever: bool = False,
        on_send: Callable[[str, int], None] | None = None,
    ) -> None:
        self.files = [Path(f) for f in files]
        self.host = host
        self._port = port
        self.speed = speed
        self.faults = faults or Faults()
        self.on_send = on_send
        self.tape = _Tape(load_tape(self.files), loop_forever)
        self._server: Any = None
        self._lock = asyncio.Lock()  # one connection streams the shared tape at a time
        # Observable counters.
        self.sent = 0
        self.connections = 0
        self.drops = 0
        self.stalls = 0
        self.gaps_injected = 0
        self.snapshot_requests = 0
        self.subscriptions_log: list[frozenset[str]] = []

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/stream"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def finished(self) -> asyncio.Event:
        return self.tape.finished

    async def start(self) -> ReplayServer:
        self._server = await serve(
            self._handler,
            self.host,
            self._port,
            process_request=self._process_request,
            ping_interval=None,
            max_size=2**20,
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        await self.start()
        await asyncio.Future()

    # ------------------------------------------------------------------ HTTP (REST snapshot)

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        parts = urlsplit(request.path)
        if parts.path != binance.DEPTH_PATH:
            return None  # a websocket handshake
        self.snapshot_requests += 1
        query = parse_qs(parts.query)
        symbol = query.get("symbol", [""])[0].upper()
        try:
            limit = int(query.get("limit", ["1000"])[0])
        except ValueError:
            return connection.respond(http.HTTPStatus.BAD_REQUEST, "bad limit\n")
        book = self.tape.books.get(symbol)
        if book is None or not book.in_sync:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "book not ready\n")
        bids, asks = book.depth(max(1, min(limit, 5000)))
        body = orjson.dumps(
            {
                "lastUpdateId": book.last_update_id,
                "bids": [[f"{p:.8f}", f"{q:.8f}"] for p, q in bids],
                "asks": [[f"{p:.8f}", f"{q:.8f}"] for p, q in asks],
            }
        ).decode()
        response = connection.respond(http.HTTPStatus.OK, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    # ------------------------------------------------------------------ websocket

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        subs: set[str] = set()
        subscribed = asyncio.Event()
        query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
        for name in "/".join(query.get("streams", [])).split("/"):
            if name:
                subs.add(name)
        if subs:
            subscribed.set()
            self.subscriptions_log.append(frozenset(subs))
        # `from_ns=N`: this connection gets its own cursor from receive time N (a session that
        # resumes after a crash re-reads what it needs); `close_at_end=1`: close when the tape ends.
        from_ns = query.get("from_ns", [None])[0]
        close_at_end = query.get("close_at_end", ["0"])[0] == "1"
        reader = asyncio.ensure_future(self._read(ws, subs, subscribed))
        try:
            await subscribed.wait()
            if from_ns is not None:
                tape = _Tape(self.tape.items)
                tape.seek(int(from_ns))
                await self._stream(ws, subs, tape, close_at_end)
            else:
                async with self._lock:
                    await self._stream(ws, subs, self.tape, close_at_end)
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self, ws: ServerConnection, subs: set[str], subscribed: asyncio.Event) -> None:
        async for raw in ws:
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                await ws.send('{"code":2,"msg":"Invalid JSON"}')
                continue
            if not isinstance(msg, dict):
                continue
            method = msg.get("method")
            if method == "SUBSCRIBE":
                subs.update(str(s) for s in msg.get("params", []))
                await ws.send(orjson.dumps({"result": None, "id": msg.get("id")}).decode())
            elif method == "UNSUBSCRIBE":
                subs.difference_update(str(s) for s in msg.get("params", []))
                await ws.send(orjson.dumps({"result": None, "id": msg.get("id")}).decode())
            else:
                subs.add("*")  # other venues' subscribe shapes: stream everything
            if subs and not subscribed.is_set():
                self.subscriptions_log.append(frozenset(subs))
                subscribed.set()
            elif subscribed.is_set():
                self.subscriptions_log[-1] = frozenset(subs)

    async def _stream(
        self, ws: ServerConnection, subs: set[str], tape: _Tape, close_at_end: bool = False
    ) -> None:
        f = self.faults
        here = 0
        depth_here = 0
        prev_ns: int | None = None
        while True:
            item = tape.next()
            if item is None:
                if close_at_end:
                    await ws.close(code=1000, reason="end of replay")
                await ws.wait_closed()
                return
            if item.stream is not None and item.stream not in subs and "*" not in subs:
                continue
            if self.speed is not None and prev_ns is not None:
                gap_s = (item.ns - prev_ns) / 1e9 / self.speed
                if gap_s > 0:
                    await asyncio.sleep(min(gap_s, 5.0))
            prev_ns = item.ns
            if item.kind == "depth":
                depth_here += 1
                if f.gap_every and depth_here % f.gap_every == 0:
                    self.gaps_injected += 1
                    continue
            here += 1
            if f.delay_every and here % f.delay_every == 0:
                await asyncio.sleep(f.delay_s)
            if f.malformed_every and here % f.malformed_every == 0:
                await ws.send(MALFORMED)
            await ws.send(item.raw)
            if f.duplicate_every and here % f.duplicate_every == 0:
                await ws.send(item.raw)
            self.sent += 1
            if self.on_send is not None:
                self.on_send(item.raw, time.perf_counter_ns())
            if (
                f.drop_every
                and here % f.drop_every == 0
                and (f.max_drops is None or self.drops < f.max_drops)
            ):
                self.drops += 1
                await ws.close(code=1011, reason="replay fault: drop")
                return
            if (
                f.stall_after
                and here == f.stall_after
                and (f.max_stalls is None or self.stalls < f.max_stalls)
            ):
                self.stalls += 1
                await ws.wait_closed()  # silent, open, until the client gives up on it
                return


async def record(
    url: str,
    subscriptions: Iterable[Any],
    path: str | Path,
    *,
    max_messages: int | None = None,
    duration_s: float | None = None,
) -> int:
    """Connect to `url`, send the subscriptions, write messages as `<ns> <json>` lines."""
    from websockets.asyncio.client import connect

    count = 0
    deadline = None if duration_s is None else time.monotonic() + duration_s
    with CaptureWriter(path) as out:
        async with connect(url, max_size=2**24) as ws:
            for sub in subscriptions:
                await ws.send(sub if isinstance(sub, str) else orjson.dumps(sub).decode())
            while max_messages is None or count < max_messages:
                timeout = None if deadline is None else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    break
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout)
                except (TimeoutError, ConnectionClosed):
                    break
                out.write(raw, time.time_ns())
                count += 1
    return count


__all__ = ["MALFORMED", "Faults", "ReplayServer", "load_tape", "record"]
