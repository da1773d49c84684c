"""What a session's feed is: a `FeedSpec` names where its trades come from.

A value shared by the session wiring (`nzeza.engine.runner`), the live parts
(`nzeza.engine.live`) and the live gates (`nzeza.promotion.live_check`), which is why it lives
apart from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Venues whose public trade stream a session can read (`nzeza.feeds.streams.trade_stream`).
VENUE_FEEDS = ("binance", "coinbase", "kraken", "hyperliquid", "dydx")


@dataclass(frozen=True)
class FeedSpec:
    """Where a session's trades come from: a capture file, a websocket URL, or a venue."""

    kind: str  # "capture" | "replay" (files), "url" (nzeza's replay server), "venue"
    symbol: str
    paths: tuple[Path, ...] = ()
    url: str | None = None
    venue: str = "binance"  # whose message format the feed speaks


def compact_symbol(symbol: str) -> str:
    """One spelling to compare symbols across venues: BTC/USDT, BTC-USDT, btcusdt → BTCUSDT."""
    return symbol.replace("/", "").replace("-", "").upper()


__all__ = ["VENUE_FEEDS", "FeedSpec", "compact_symbol"]
