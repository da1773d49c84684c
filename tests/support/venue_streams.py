"""Local websocket servers that speak each venue's public trade stream, for loopback tests.

`VenueStream(venue, trades)` serves a tape of real trades (by default the bundled Binance
BTCUSDT capture's) on 127.0.0.1 in the venue's own protocol: its subscription handshake and
acknowledgement, its message shapes and symbol spelling, its heartbeats and ping/pong, and the
recent-trades snapshot that Kraken, dYdX and Coinbase send on every (re)subscription. Shapes
follow the documented examples in `tests/feeds/fixtures/` and the parsers' module docstrings.

Like a venue, the tape is shared: a reconnecting client continues where the stream was (the
tape waits while no client is subscribed, so a test that restarts a session loses nothing).
Faults: `stall_after` (the connection goes silent, open, after N trades), `drop_after` (closed
abnormally after N trades), each for the first `faults` connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

SYMBOLS = {
    "binance": "BTCUSDT",
    "coinbase": "BTC-USD",
    "kraken": "BTC/USD",
    "hyperliquid": "BTC",
    "dydx": "BTC-USD",
}


@dataclass(frozen=True)
class TapeTrade:
    """One trade of the tape: exchange time (UTC ns), price and size text, aggressor side."""

    ts_ns: int
    price: str
    size: str
    side: str  # "buy" | "sell"
    tid: int


def capture_tape(limit: int | None = None, files: int = 2) -> list[TapeTrade]:
    """The trades of the bundled Binance BTCUSDT capture (real prices, sizes and times)."""
    from nzeza.feeds import binance
    from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled, read_capture
    from nzeza.feeds.events import Trade

    out: list[TapeTrade] = []
    for name in BINANCE_BTCUSDT[:files]:
        for ns, raw in read_capture(bundled(name)):
            if "@trade" not in raw:
                continue
            for ev in binance.parse(raw, ns):
                if type(ev) is Trade:
                    p, q = f"{ev.price.normalize():f}", f"{ev.size.normalize():f}"
                    out.append(TapeTrade(ev.ts_ns or 0, p, q, ev.side, int(ev.trade_id)))
            if limit is not None and len(out) >= limit:
                return out[:limit]
    return out


def _iso(ns: int) -> str:
    base = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns % 1_000_000_000:09d}Z"


class VenueStream:
    """One venue's public trade stream on 127.0.0.1 (see the module docstring).

    `speed`: None sends as fast as the client reads; else the tape's own timing × 1/speed.
    `history`: how many recent trades a subscription snapshot carries (venues that send one).
    """

    def __init__(
        self,
        venue: str,
        tape: list[TapeTrade],
        *,
        speed: float | None = None,
        history: int = 5,
        heartbeat_s: float = 0.5,
        stall_after: int = 0,
        drop_after: int = 0,
        faults: int = 1,
        symbol: str | None = None,
    ) -> None:
        self.venue = venue
        self.symbol = symbol or SYMBOLS[venue]
        self.tape = tape
        self.pos = 0
        self.speed = speed
        self.history = history
        self.heartbeat_s = heartbeat_s
        self.stall_after = stall_after
        self.drop_after = drop_after
        self.faults = faults
        self.connections = 0
        self.received: list[list[Any]] = []  # per connection, the client's decoded messages
        self.pings = 0
        self.finished = asyncio.Event()
        self._lock = asyncio.Lock()
        self._server: Any = None

    # -- server -----------------------------------------------------------------------------
    async def start(self) -> VenueStream:
        # protocol pings find a client that died without closing (a killed session)
        self._server = await serve(
            self._handler, "127.0.0.1", 0, ping_interval=1.0, ping_timeout=2.0
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def __aenter__(self) -> VenueStream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    def last_price(self) -> str:
        """The price of the last trade sent (the first trade's before any)."""
        return self.tape[max(0, self.pos - 1)].price

    @property
    def url(self) -> str:
        """The endpoint as a venue's ws_url setting names it (Binance: without /stream)."""
        return f"ws://127.0.0.1:{self.port}" + ("" if self.venue == "binance" else "/ws")

    # -- one connection -------------------------------------------------------------------------
    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        number = self.connections
        self.received.append([])
        seq = itertools.count(0)
        subscribed = asyncio.Event()
        if self.venue == "binance":
            query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
            if f"{self.symbol.lower()}@trade" in "/".join(query.get("streams", [])).split("/"):
                subscribed.set()
        if self.venue == "dydx":
            await ws.send(self._dydx("connected", next(seq)))
        reader = asyncio.ensure_future(self._read(ws, subscribed, seq))
        beat = asyncio.ensure_future(self._heartbeats(ws, subscribed, seq))
        try:
            await subscribed.wait()
            async with self._lock:  # one subscriber streams the shared tape at a time
                await self._snapshot(ws, seq)
                await self._stream(ws, seq, number)
            await ws.wait_closed()  # a venue never ends its stream
        except ConnectionClosed:
            pass
        finally:
            for task in (reader, beat):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read(self, ws: ServerConnection, subscribed: asyncio.Event, seq: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            self.received[-1].append(msg)
            reply = self._answer(msg, seq)
            if reply is None:
                continue
            if reply != "":
                await ws.send(reply)
            if self._is_trade_subscription(msg):
                subscribed.set()

    def _is_trade_subscription(self, msg: dict) -> bool:
        v, sym = self.venue, self.symbol
        if v == "binance":
            return msg.get("method") == "SUBSCRIBE" and f"{sym.lower()}@trade" in msg["params"]
        if v == "coinbase":
            return msg.get("channel") == "market_trades" and sym in msg.get("product_ids", [])
        if v == "kraken":
            params = msg.get("params", {})
            return params.get("channel") == "trade" and sym in params.get("symbol", [])
        if v == "hyperliquid":
            sub = msg.get("subscription", {})
            return sub.get("type") == "trades" and sub.get("coin") == sym
        return msg.get("channel") == "v4_trades" and msg.get("id") == sym

    def _answer(self, msg: dict, seq: Any) -> str | None:
        """The venue's reply to a client message ("" = no reply, None = ignored)."""
        v = self.venue
        if v == "binance" and msg.get("method") == "SUBSCRIBE":
            return json.dumps({"result": None, "id": msg.get("id")})
        if v == "coinbase" and msg.get("type") == "subscribe":
            channel = msg["channel"]
            name = "market_trades" if channel == "market_trades" else channel
            subs = {name: msg.get("product_ids", [])}
            return self._coinbase("subscriptions", next(seq), [{"subscriptions": subs}])
        if v == "kraken":
            if msg.get("method") == "ping":
                self.pings += 1
                return json.dumps({"method": "pong", "time_in": _iso(time.time_ns())})
            if msg.get("method") == "subscribe":
                params = msg["params"]
                result = {"channel": params["channel"], "snapshot": True}
                result["symbol"] = params["symbol"][0]
                return json.dumps({"method": "subscribe", "result": result, "success": True})
        if v == "hyperliquid":
            if msg.get("method") == "ping":
                self.pings += 1
                return json.dumps({"channel": "pong"})
            if msg.get("method") == "subscribe":
                data = {"method": "subscribe", "subscription": msg["subscription"]}
                return json.dumps({"channel": "subscriptionResponse", "data": data})
        if v == "dydx" and msg.get("type") == "subscribe":
            return ""  # answered by the snapshot ("subscribed" carries the recent trades)
        return None

    async def _heartbeats(self, ws: ServerConnection, subscribed: asyncio.Event, seq: Any) -> None:
        if self.venue not in ("coinbase", "kraken"):
            return  # Binance and dYdX rely on protocol pings; Hyperliquid answers pings
        await subscribed.wait()
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if self.venue == "kraken":
                await ws.send('{"channel":"heartbeat"}')
            else:
                events = [{"current_time": _iso(time.time_ns()), "heartbeat_counter": "1"}]
                await ws.send(self._coinbase("heartbeats", next(seq), events))

    async def _snapshot(self, ws: ServerConnection, seq: Any) -> None:
        """The recent trades a (re)subscription starts with, as the venue sends them."""
        recent = self.tape[max(0, self.pos - self.history) : self.pos]
        if self.venue == "dydx":
            rows = [self._dydx_trade(t) for t in reversed(recent)]  # newest first
            await ws.send(self._dydx("subscribed", next(seq), {"trades": rows}))
        elif recent and self.venue == "kraken":
            data = [self._kraken_trade(t) for t in recent]
            await ws.send(kraken_json({"channel": "trade", "type": "snapshot", "data": data}))
        elif recent and self.venue == "coinbase":
            rows = [self._coinbase_trade(t) for t in reversed(recent)]
            events = [{"type": "snapshot", "trades": rows}]
            await ws.send(self._coinbase("market_trades", next(seq), events))

    async def _stream(self, ws: ServerConnection, seq: Any, number: int) -> None:
        here = 0
        prev: int | None = None
        faulty = number <= self.faults
        while self.pos < len(self.tape):
            trade = self.tape[self.pos]
            if self.speed is not None and prev is not None and trade.ts_ns > prev:
                await asyncio.sleep(min(2.0, (trade.ts_ns - prev) / 1e9 / self.speed))
            prev = trade.ts_ns
            await ws.send(self._render(trade, seq))
            self.pos += 1
            here += 1
            if faulty and self.stall_after and here == self.stall_after:
                await ws.wait_closed()  # silent and open: only staleness can tell
                return
            if faulty and self.drop_after and here == self.drop_after:
                await ws.close(code=1011, reason="test fault: drop")
                return
        self.finished.set()

    # -- each venue's shapes --------------------------------------------------------------------
    def _render(self, t: TapeTrade, seq: Any) -> str:
        v = self.venue
        if v == "binance":
            ms = t.ts_ns // 1_000_000
            data = {"e": "trade", "E": ms, "s": self.symbol, "t": t.tid, "p": t.price}
            data.update(q=t.size, T=ms, m=t.side == "sell", M=True)
            return json.dumps({"stream": f"{self.symbol.lower()}@trade", "data": data})
        if v == "coinbase":
            events = [{"type": "update", "trades": [self._coinbase_trade(t)]}]
            return self._coinbase("market_trades", next(seq), events)
        if v == "kraken":
            data = [self._kraken_trade(t)]
            return kraken_json({"channel": "trade", "type": "update", "data": data})
        if v == "hyperliquid":
            row = {"coin": self.symbol, "side": "B" if t.side == "buy" else "A", "px": t.price}
            row.update(sz=t.size, hash="0x" + "00" * 32, time=t.ts_ns // 1_000_000, tid=t.tid)
            row["users"] = ["0x" + "11" * 20, "0x" + "22" * 20]
            return json.dumps({"channel": "trades", "data": [row]})
        return self._dydx("channel_data", next(seq), {"trades": [self._dydx_trade(t)]})

    def _coinbase(self, channel: str, n: int, events: list) -> str:
        envelope = {"channel": channel, "client_id": "", "timestamp": _iso(time.time_ns())}
        envelope.update(sequence_num=n, events=events)
        return json.dumps(envelope)

    def _coinbase_trade(self, t: TapeTrade) -> dict:
        row = {"trade_id": str(t.tid), "product_id": self.symbol, "price": t.price}
        row.update(size=t.size, side=t.side.upper(), time=_iso(t.ts_ns))
        return row

    def _kraken_trade(self, t: TapeTrade) -> dict:
        # Kraken v2 sends numbers: written as JSON numbers from the exact text
        row = {"symbol": self.symbol, "side": t.side, "price": _Raw(t.price), "qty": _Raw(t.size)}
        row.update(ord_type="market", trade_id=t.tid, timestamp=_iso(t.ts_ns)[:-4] + "Z")
        return row

    def _dydx(self, kind: str, n: int, contents: Any = None) -> str:
        msg: dict[str, Any] = {"type": kind, "connection_id": "c0ffee", "message_id": n}
        if kind != "connected":
            msg.update(channel="v4_trades", id=self.symbol, version="2.1.0", contents=contents)
        return json.dumps(msg)

    def _dydx_trade(self, t: TapeTrade) -> dict:
        row = {"id": f"{t.tid:032x}", "side": t.side.upper(), "size": t.size, "price": t.price}
        row.update(type="LIMIT", createdAt=_iso(t.ts_ns)[:-7] + "Z", createdAtHeight="1")
        return row


class _Raw(str):
    """A number kept as its exact wire text: `kraken_json` writes it as a bare JSON number."""


_MARK = "@@raw@@"


def kraken_json(obj: Any) -> str:
    """JSON with `_Raw` values written as bare numbers (Kraken v2's wire form for prices)."""

    def walk(x: Any) -> Any:
        if isinstance(x, _Raw):
            return f"{_MARK}{x}{_MARK}"
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return json.dumps(walk(obj)).replace(f'"{_MARK}', "").replace(f'{_MARK}"', "")
