"""Each venue's public trade stream, as data: endpoint, subscriptions, heartbeat, parser.

`trade_stream(venue, ws_url, symbol)` says how to read one symbol's public trades from a venue
(capabilities as data: what differs per venue is a row, the connection code is one
`FeedConnection`):

| venue | endpoint | subscription | keep-alive | symbol |
|---|---|---|---|---|
| binance | `{ws_url}/stream?streams=btcusdt@trade` | in the URL | protocol pings | BTCUSDT |
| coinbase | `{ws_url}` | `market_trades` + `heartbeats` | heartbeats every second | BTC-USD |
| kraken | `{ws_url}` (v2) | `trade` channel | `heartbeat` channel + `ping` every 20 s | BTC/USD |
| hyperliquid | `{ws_url}` | `trades` of a coin | `ping` every 20 s (answered `pong`) | BTC |
| dydx | `{ws_url}` (indexer v4) | `v4_trades` of a market | protocol pings | BTC-USD |

`funding_stream(venue, ws_url, symbol)` is a perpetual's funding rate and mark price, as
`FundingUpdate` events, on its own connection: Binance's `<symbol>@markPrice@1s` (on the
USDⓈ-M host, `binance.FUTURES_WS_URL`: the spot host has no funding, the futures host no
`@trade`), Hyperliquid's `activeAssetCtx` of the coin, dYdX's `v4_markets` (every market; the
parser keeps each market's last rate and oracle price).

Kraken's and dYdX's subscriptions start with recent trades (a snapshot), also after a
reconnect: the stream consumer de-duplicates by trade id (`sequence.RecentIds`).

`replay_stream(url, symbol, resume_ns)` is nzeza's own replay server (`nzeza feed replay`): the
Binance protocol plus `from_ns` (where to resume, read at every connect; it also gives each
connection a tape of its own) and `close_at_end` (a normal close at the end of the tape ends
the stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nzeza.errors import ValidationError
from nzeza.feeds import binance, coinbase, dydx, hyperliquid, kraken
from nzeza.feeds.connection import Parser

# Quote currencies recognised at the end of a compact symbol (BTCUSDT), longest first.
QUOTES = ("USDT", "USDC", "USD", "EUR", "BTC", "ETH")
# How far before the last trade a resuming replay restarts: its receive times run a little
# ahead of the exchange times the cursor is in.
REPLAY_RESUME_MARGIN_NS = 5_000_000_000


@dataclass(frozen=True)
class TradeStream:
    """How to read one symbol's public trades from one venue (see the module table)."""

    venue: str
    symbol: str  # the venue's own spelling: what its trade events carry
    url: str | Callable[[], str]
    subscriptions: tuple[Any, ...] = ()
    heartbeat_message: Any = None
    heartbeat_interval_s: float = 20.0
    # no message at all for this long: the connection is dead (a venue with no application
    # heartbeat, on a quiet market, trips it too; a reconnect is cheap)
    stale_after_s: float = 60.0
    # no trade for this long although the venue still sends heartbeats: resubscribe on a fresh
    # connection (a stuck subscription; on a quiet market the reconnect is harmless)
    data_stale_after_s: float = 300.0
    end_on_normal_close: bool = False  # a replay's end of tape

    def parser(self) -> tuple[Parser, Callable[[], None] | None]:
        """A fresh parser for one connection manager, and its reset (called at each connect)."""
        if self.venue == "coinbase":
            cb = coinbase.CoinbaseParser()
            return cb.parse, cb.reset
        if self.venue == "dydx":
            dy = dydx.DydxParser()
            return dy.parse, dy.reset
        module = {"binance": binance, "kraken": kraken, "hyperliquid": hyperliquid}[self.venue]
        return module.parse, None


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a symbol in any venue's spelling: BTCUSDT, BTC-USD, BTC/USD,
    BTC/USDC:USDC (a settled derivative), or a bare coin (quote "")."""
    text = symbol.strip().upper().split(":", 1)[0]
    for sep in ("/", "-"):
        if sep in text:
            base, _, quote = text.partition(sep)
            if not base or not quote:
                raise ValidationError(
                    "symbol", symbol, "expected BASE/QUOTE, BASE-QUOTE or BASEQUOTE"
                )
            return base, quote
    quote = next((q for q in QUOTES if text.endswith(q) and len(text) > len(q)), "")
    return (text[: -len(quote)], quote) if quote else (text, "")


def wire_symbol(venue: str, symbol: str) -> str:
    """`symbol` (any spelling) as `venue` spells it on its trade stream. dYdX lists only
    USD-quoted perpetuals (settled in USDC), so any dollar quote maps to BTC-USD there."""
    base, quote = split_symbol(symbol)
    if venue == "hyperliquid":
        return base  # perpetuals are named by their coin
    if not quote:
        raise ValidationError("symbol", symbol, f"{venue} needs a quote currency, e.g. {base}-USD")
    if venue == "binance":
        return base + quote
    if venue == "kraken":
        return f"{base}/{quote}"
    if venue == "dydx":
        return f"{base}-{'USD' if quote in ('USD', 'USDC', 'USDT') else quote}"
    if venue == "coinbase":
        return f"{base}-{quote}"
    raise ValidationError("venue", venue, "no trade stream for this venue")


FUNDING_VENUES = ("binance", "hyperliquid", "dydx")
"""Venues with a perpetual funding stream (`funding_stream`)."""


def funding_stream(venue: str, ws_url: str, symbol: str) -> TradeStream:
    """The funding rate and mark price of perpetual `symbol` (any spelling) on `venue` at
    `ws_url`, as `FundingUpdate` events (see the module docstring)."""
    if venue not in FUNDING_VENUES:
        raise ValidationError(
            "venue", venue, f"no perpetual funding stream; one of {', '.join(FUNDING_VENUES)}"
        )
    sym = wire_symbol(venue, symbol)
    if venue == "binance":
        names = "/".join(binance.stream_names(sym, (binance.MARK_PRICE,)))
        return TradeStream(venue, sym, f"{ws_url.rstrip('/')}/stream?streams={names}")
    if venue == "hyperliquid":
        return TradeStream(
            venue,
            sym,
            ws_url,
            (hyperliquid.subscribe_message("activeAssetCtx", sym),),
            heartbeat_message=hyperliquid.ping_message(),
            stale_after_s=30.0,
        )
    return TradeStream(venue, sym, ws_url, (dydx.subscribe_message("v4_markets"),))


def trade_stream(venue: str, ws_url: str, symbol: str) -> TradeStream:
    """The public trade stream of `symbol` (any spelling) on `venue` at `ws_url`."""
    sym = wire_symbol(venue, symbol)
    base = ws_url.rstrip("/")
    if venue == "binance":
        return TradeStream(venue, sym, f"{base}/stream?streams={sym.lower()}@trade")
    if venue == "coinbase":
        subs = (
            coinbase.subscribe_message("market_trades", [sym]),
            coinbase.subscribe_message("heartbeats"),
        )
        return TradeStream(venue, sym, ws_url, subs, stale_after_s=30.0)
    if venue == "kraken":
        return TradeStream(
            venue,
            sym,
            ws_url,
            (kraken.subscribe_message("trade", [sym]),),
            heartbeat_message=kraken.ping_message(),
            stale_after_s=30.0,
        )
    if venue == "hyperliquid":
        return TradeStream(
            venue,
            sym,
            ws_url,
            (hyperliquid.subscribe_message("trades", sym),),
            heartbeat_message=hyperliquid.ping_message(),
            stale_after_s=30.0,
        )
    if venue == "dydx":
        return TradeStream(venue, sym, ws_url, (dydx.subscribe_message("v4_trades", sym),))
    raise ValidationError("venue", venue, "no trade stream for this venue")


def replay_stream(
    url: str, symbol: str, resume_ns: Callable[[], int | None], stale_after_s: float = 60.0
) -> TradeStream:
    """nzeza's replay server (Binance protocol): every (re)connect resumes a little before
    `resume_ns()` (the last trade seen, or where the session starts) and asks for a normal
    close at the end of the tape, which ends the stream."""
    sym = wire_symbol("binance", symbol)
    base = url.rstrip("/")

    def current() -> str:
        # from_ns is always sent: it also gives this connection a tape of its own
        start = max(0, (resume_ns() or 0) - REPLAY_RESUME_MARGIN_NS)
        return f"{base}/stream?streams={sym.lower()}@trade&close_at_end=1&from_ns={start}"

    return TradeStream(
        "binance", sym, current, stale_after_s=stale_after_s, end_on_normal_close=True
    )


__all__ = [
    "FUNDING_VENUES",
    "QUOTES",
    "TradeStream",
    "funding_stream",
    "replay_stream",
    "split_symbol",
    "trade_stream",
    "wire_symbol",
]
