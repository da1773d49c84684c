"""Live sessions: the live parts, built once every gate passed.

The gates themselves (settings, the promotion binding this exact run, the ledger's integrity)
are `nzeza.promotion.live_check`; `open_session` checks them first. `live_parts` then builds
what differs from paper: the venue's order adapter (`nzeza.venues.factory`: ccxt for Binance,
Coinbase, Kraken and Hyperliquid, the Cosmos-signing adapter for dYdX) and its public trade
stream. The session loop itself is the paper one.
"""

from __future__ import annotations

import ssl
from typing import Any

from nzeza.errors import ConfigError

ENV = "NZEZA_"


def tls_context(settings: Any) -> ssl.SSLContext | None:
    """A verifying TLS context that also trusts `NZEZA_CA_FILE` (None: the defaults)."""
    from nzeza.venues.factory import tls_context as context

    return context(settings.ca_file)


async def live_parts(settings: Any, symbol: str) -> tuple[Any, Any, Any, ssl.SSLContext | None]:
    """The live venue adapter (`nzeza.venues.factory.build_venue`: ccxt for the CEXs, the
    Cosmos-signing dYdX adapter), the session instrument (from the venue's own markets), the
    feed spec of its public trade stream and the TLS context for the feed. Call only after
    `require_live` passed."""
    from nzeza.engine.feedspec import FeedSpec
    from nzeza.feeds.streams import wire_symbol
    from nzeza.venues.factory import build_venue, find_instrument

    venue_name = settings.live_venue
    cfg = settings.venue(venue_name)
    venue = build_venue(settings, venue_name, live=True)
    try:
        markets = await venue.load_markets()
        inst = find_instrument(markets, symbol, venue_name)
    except BaseException:
        await venue.close()
        raise
    url = cfg.endpoint(venue_name, "ws_url")
    if url is None:
        await venue.close()
        raise ConfigError(f"{ENV}{venue_name.upper()}__WS_URL", "no trade stream endpoint")
    feed_symbol = wire_symbol(venue_name, f"{inst.base}/{inst.quote}")
    spec = FeedSpec("venue", feed_symbol, url=url, venue=venue_name)
    return venue, inst, spec, tls_context(settings)


__all__ = [
    "ENV",
    "live_parts",
    "tls_context",
]
