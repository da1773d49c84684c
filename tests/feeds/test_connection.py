"""FeedConnection on real loopback sockets against small scripted venue servers.

Kraken: a checksum mismatch resubscribes the one book on the open connection and the new
snapshot brings it back in sync. Coinbase: a skipped `sequence_num` reconnects, every
subscription (a private one with a freshly signed JWT each time) is restored and the book is
rebuilt from the new snapshot. Plus application heartbeats, the staleness timeout, the backoff
reset after a stable connection, the circuit breaker gating attempts, and wss for live feeds.
Waits are on conditions (with generous timeouts), never on elapsed time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal as D
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from feeds._fixtures import fixture_lines
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from nzeza.errors import ConfigError
from nzeza.feeds import coinbase, kraken
from nzeza.feeds.book import OrderBook
from nzeza.feeds.breaker import BreakerState, CircuitBreaker
from nzeza.feeds.connection import Backoff, FeedConnection, FeedGaveUp

KRAKEN = fixture_lines("kraken_v2.jsonl")
COINBASE = fixture_lines("coinbase_advanced.jsonl")
FAST = Backoff(base_s=0.001, cap_s=0.005, rng=random.Random(7))


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


class Script:
    """A websocket server on 127.0.0.1 whose per-connection behaviour is a coroutine."""

    def __init__(self, handler: Callable[[ServerConnection, int], Awaitable[None]]) -> None:
        self.handler = handler
        self.connections = 0
        self.received: list[list[Any]] = []  # per connection, decoded client messages
        self.refuse_first = 0  # answer the first N handshakes with HTTP 503
        self._server: Any = None

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.received.append([])
        with contextlib.suppress(ConnectionClosed):
            await self.handler(ws, self.connections)

    def _process_request(self, connection: Any, request: Any) -> Any:
        if self.refuse_first > 0:
            self.refuse_first -= 1
            return connection.respond(503, "try later\n")
        return None

    async def recv(self, ws: ServerConnection) -> Any:
        msg = json.loads(await ws.recv())
        self.received[-1].append(msg)
        return msg

    async def __aenter__(self) -> Script:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._process_request, ping_interval=None
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/ws"


async def run_until(conn: FeedConnection, cond: Callable[[], bool], timeout: float = 10) -> None:
    task = asyncio.ensure_future(conn.run())
    try:
        await until(lambda: cond() or task.done(), timeout)
        if task.done():
            task.result()  # raise what ended it
    finally:
        await conn.close()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)


# ------------------------------------------------------------------ Kraken: checksum → resync


def test_kraken_checksum_mismatch_resubscribes_the_book_on_the_same_connection():
    snapshot, update = KRAKEN[0], KRAKEN[1]
    corrupt = update.replace("1098.3947558", "1098.3947559")  # the checksum no longer matches

    async def venue(ws: ServerConnection, n: int) -> None:
        subscribes = 0
        while True:
            msg = await script.recv(ws)
            params = msg.get("params", {})
            if msg["method"] == "unsubscribe":
                await ws.send(
                    orjson.dumps(
                        {
                            "method": "unsubscribe",
                            "result": {**params, "symbol": "MATIC/USD"},
                            "success": True,
                        }
                    ).decode()
                )
            elif msg["method"] == "subscribe":
                subscribes += 1
                await ws.send(KRAKEN[5])  # subscribe ack
                await ws.send(snapshot)
                await ws.send(corrupt if subscribes == 1 else update)
                if subscribes == 1:
                    await ws.send(update)  # arrives while the book waits for its snapshot

    book = OrderBook(
        "kraken", "MATIC/USD", sequencing="none", max_depth=10, checksum_fn=kraken.checksum_fn(4, 8)
    )

    async def main() -> tuple[FeedConnection, Script]:
        nonlocal script
        async with Script(venue) as script:
            conn = FeedConnection(
                script.url,
                venue="kraken",
                parse=kraken.parse,
                subscriptions=[kraken.subscribe_message("book", ["MATIC/USD"], depth=10)],
                books={"MATIC/USD": book},
                resubscribe=lambda sym: [
                    {"method": "unsubscribe", "params": {"channel": "book", "symbol": [sym]}},
                    kraken.subscribe_message("book", [sym], depth=10),
                ],
                ping_interval_s=None,
                backoff=FAST,
            )
            await run_until(
                conn, lambda: book.snapshots == 2 and book.in_sync and book.applied >= 2
            )
            return conn, script

    script: Script
    conn, script = asyncio.run(main())
    assert book.checksum_failures == 1 and conn.resubscribes == 1
    assert conn.connects == 1 and conn.reconnects == 0  # resynced without reconnecting
    methods = [m["method"] for m in script.received[0]]
    assert methods == ["subscribe", "unsubscribe", "subscribe"]
    # The book is the documented snapshot + update, verified by Kraken's own checksum.
    assert book.depth(10)[0][-1] == (D("0.5657"), D("1098.3947558"))


def test_a_resubscription_the_venue_ignores_ends_in_a_reconnect():
    async def venue(ws: ServerConnection, n: int) -> None:
        await script.recv(ws)
        await ws.send(KRAKEN[0])  # snapshot
        if n == 1:
            await ws.send(KRAKEN[1].replace("1098.3947558", "1"))  # checksum mismatch
        else:
            await ws.send(KRAKEN[1])
        while True:
            await script.recv(ws)  # resubscriptions are read and ignored

    book = OrderBook(
        "kraken", "MATIC/USD", sequencing="none", max_depth=10, checksum_fn=kraken.checksum_fn(4, 8)
    )

    async def main() -> FeedConnection:
        nonlocal script
        async with Script(venue) as script:
            conn = FeedConnection(
                script.url,
                venue="kraken",
                parse=kraken.parse,
                subscriptions=[kraken.subscribe_message("book", ["MATIC/USD"], depth=10)],
                books={"MATIC/USD": book},
                resubscribe=lambda sym: [kraken.subscribe_message("book", [sym], depth=10)],
                resync_timeout_s=0.05,
                ping_interval_s=None,
                backoff=FAST,
            )
            await run_until(conn, lambda: conn.connects == 2 and book.in_sync and book.applied >= 2)
            return conn

    script: Script
    conn = asyncio.run(main())
    assert conn.resubscribes == 1 and conn.failures == 0 and book.checksum_failures == 1
    assert len(script.received[0]) == 2  # the subscription, then the ignored resubscription


# ------------------------------------------------------------------ Coinbase: gap → reconnect


def _key() -> tuple[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def _verify(token: str, public_key: Any) -> dict[str, Any]:
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_coinbase_sequence_gap_reconnects_restores_subscriptions_with_a_fresh_jwt():
    pem, public = _key()
    name = "organizations/o/apiKeys/k"
    second_snapshot = COINBASE[1].replace('"0.06317902"', '"0.7"')

    async def venue(ws: ServerConnection, n: int) -> None:
        for _ in range(2):
            await script.recv(ws)
        await ws.send(COINBASE[0])  # subscriptions ack, sequence 0
        await ws.send(COINBASE[1] if n == 1 else second_snapshot)  # 1
        await ws.send(COINBASE[2])  # 2
        if n == 1:
            await ws.send(COINBASE[5].replace('"sequence_num":5', '"sequence_num":4'))  # 3 lost
        await ws.wait_closed()

    book = OrderBook("coinbase", "BTC-USD", sequencing="none")
    parser = coinbase.CoinbaseParser()

    async def main() -> FeedConnection:
        nonlocal script
        async with Script(venue) as script:
            conn = FeedConnection(
                script.url,
                venue="coinbase",
                parse=parser.parse,
                reset_parser=parser.reset,
                subscriptions=[
                    coinbase.subscribe_message("level2", ["BTC-USD"]),
                    lambda: coinbase.subscribe_message(
                        "user", ["BTC-USD"], jwt=coinbase.build_jwt(name, pem)
                    ),
                ],
                books={"BTC-USD": book},
                ping_interval_s=None,
                backoff=FAST,
            )
            await run_until(conn, lambda: book.snapshots == 2 and book.applied >= 2)
            return conn

    script: Script
    conn = asyncio.run(main())
    assert conn.sequence_gaps == 1 and conn.reconnects == 1 and conn.failures == 0
    assert [[m["channel"] for m in msgs] for msgs in script.received] == [["level2", "user"]] * 2
    jwts = [msgs[1]["jwt"] for msgs in script.received]
    assert jwts[0] != jwts[1]  # signed anew for the new connection
    for token in jwts:
        assert _verify(token, public)["sub"] == name
    assert book.in_sync and book.best_bid() == (D("21921.3"), D("0.02"))
    assert book.best_ask() == (D("21921.74"), D("0.25"))


# ------------------------------------------------------------------ heartbeats and staleness


def test_application_heartbeats_are_sent_while_connected():
    async def venue(ws: ServerConnection, n: int) -> None:
        while True:
            msg = await script.recv(ws)
            if msg.get("method") == "ping":
                await ws.send('{"method":"pong"}')

    async def main() -> FeedConnection:
        nonlocal script
        async with Script(venue) as script:
            conn = FeedConnection(
                script.url,
                venue="kraken",
                parse=kraken.parse,
                heartbeat_message=kraken.ping_message(),
                heartbeat_interval_s=0.02,
                ping_interval_s=0.05,  # and websocket protocol pings alongside
                stale_after_s=5,
            )
            await run_until(
                conn,
                lambda: (
                    bool(script.received) and len(script.received[0]) >= 3 and conn.messages >= 2
                ),
            )
            return conn

    script: Script
    conn = asyncio.run(main())
    assert conn.heartbeats_sent >= 3 and conn.messages >= 2  # pongs keep the feed fresh
    assert all(m == {"method": "ping"} for m in script.received[0])


def test_a_silent_connection_is_stale_and_replaced():
    async def venue(ws: ServerConnection, n: int) -> None:
        await ws.wait_closed()  # accepts, then never says anything

    async def main() -> FeedConnection:
        nonlocal script
        async with Script(venue) as script:
            conn = FeedConnection(
                script.url,
                venue="binance",
                parse=lambda raw, ns: [],
                stale_after_s=0.05,
                ping_interval_s=None,
                backoff=FAST,
            )
            await run_until(conn, lambda: script.connections >= 3)
            return conn

    script: Script
    conn = asyncio.run(main())
    assert conn.stale_timeouts >= 2 and conn.failures >= 2 and conn.messages == 0
    assert "stale" in conn.last_error


# ------------------------------------------------------------------ backoff reset, breaker


class RecordingBackoff(Backoff):
    def __init__(self) -> None:
        super().__init__(base_s=0.001, cap_s=0.002, rng=random.Random(1))
        self.attempts: list[int] = []

    def delay(self, attempt: int) -> float:
        self.attempts.append(attempt)
        return super().delay(attempt)


def test_backoff_restarts_after_a_stable_connection_and_gives_up_after_max_retries():
    clock = {"t": 0.0}

    async def venue(ws: ServerConnection, n: int) -> None:
        if n == 3:
            clock["t"] += 100.0  # this connection stays up "100 s" (the injected clock)
        await ws.close()

    backoff = RecordingBackoff()

    async def main() -> FeedConnection:
        async with Script(venue) as script:
            conn = FeedConnection(
                script.url,
                venue="binance",
                parse=lambda raw, ns: [],
                ping_interval_s=None,
                max_retries=3,
                stable_after_s=30.0,
                backoff=backoff,
                clock=lambda: clock["t"],
            )
            with pytest.raises(FeedGaveUp) as err:
                await asyncio.wait_for(conn.run(), 10)
            assert script.connections == 6 and err.value.attempts == 3
            return conn

    conn = asyncio.run(main())
    # 1, 2 fail → delays for attempts 0, 1; the stable 3rd resets → 0, 1, 2; the 6th gives up.
    assert backoff.attempts == [0, 1, 0, 1, 2]
    assert conn.state == "failed" and conn.failures == 6


def test_circuit_breaker_gates_attempts_and_closes_on_success():
    async def venue(ws: ServerConnection, n: int) -> None:
        await ws.send(KRAKEN[4])  # heartbeat
        await ws.wait_closed()

    seen: list[tuple[str, str]] = []

    async def main() -> tuple[FeedConnection, CircuitBreaker]:
        async with Script(venue) as script:
            script.refuse_first = 3  # three failed handshakes in a row
            breaker = CircuitBreaker(
                "kraken-ws",
                failure_threshold=2,
                window_s=60,
                base_timeout_s=0.02,
                max_timeout_s=1,
                on_transition=lambda o, n, r: seen.append((o.value, n.value)),
            )
            conn = FeedConnection(
                script.url,
                venue="kraken",
                parse=kraken.parse,
                ping_interval_s=None,
                backoff=FAST,
                breaker=breaker,
                max_retries=10,
            )
            await run_until(conn, lambda: conn.messages >= 1)
            return conn, breaker

    conn, breaker = asyncio.run(main())
    assert seen == [
        ("closed", "open"),  # 2 failures
        ("open", "half_open"),
        ("half_open", "open"),  # the trial (3rd attempt) was refused too: timeout doubles
        ("open", "half_open"),
        ("half_open", "closed"),  # the 4th attempt connected
    ]
    assert breaker.state is BreakerState.CLOSED and breaker.total_trips == 2
    assert conn.failures == 3 and conn.connects == 1


def test_live_feeds_need_wss():
    with pytest.raises(ConfigError) as err:
        FeedConnection(
            "ws://stream.example:9443/ws", venue="binance", parse=kraken.parse, live=True
        )
    assert err.value.variable == "binance.ws_url"
    with pytest.raises(ConfigError):
        FeedConnection("https://x", venue="binance", parse=kraken.parse)
    FeedConnection("wss://stream.example:9443/ws", venue="binance", parse=kraken.parse, live=True)
