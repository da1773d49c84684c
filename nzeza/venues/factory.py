"""The venue adapter a session trades on, built by venue name: the one place that knows which
adapter serves which venue.

| venue | adapter | settings |
|---|---|---|
| binance, coinbase, kraken, hyperliquid | `CcxtVenue` | `NZEZA_<V>__REST_URL`, credentials |
| dydx | `DydxVenue` (Cosmos-signed) | `__NODE_URL`, `__REST_URL` (indexer), `__MNEMONIC`, |
| | | `__CHAIN_ID` |
| paper | `DurablePaperVenue` (its own SQLite file) | — |

Every adapter the process builds shares one `RateLimiter` (`process_limiter()`): two adapters
on one venue draw on one budget, as the venue counts them. `NZEZA_CA_FILE` is trusted for the
https endpoints (`ca_file`). `find_instrument` picks the session's instrument from the venue's
own markets by a symbol in any spelling.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nzeza.domain import Costs, Instrument
from nzeza.errors import ConfigError, ValidationError
from nzeza.venues.base import Venue

CCXT_VENUES = ("binance", "coinbase", "kraken", "hyperliquid")
VENUES = (*CCXT_VENUES, "dydx")
_LIMITER: Any = None

# ccxt's names for the credentials `Settings` holds (SecretStr; unwrapped by the venue).
# Hyperliquid signs with the wallet's private key; the venue derives the address from it.
_CCXT_CREDENTIALS = {
    "api_key": "apiKey",
    "api_secret": "secret",
    "passphrase": "password",
    "private_key": "privateKey",
}


def process_limiter() -> Any:
    """The process's one `RateLimiter` (every venue's published budget)."""
    global _LIMITER
    if _LIMITER is None:
        from nzeza.execution.ratelimit import RateLimiter

        _LIMITER = RateLimiter()
    return _LIMITER


def tls_context(ca_file: str | Path | None) -> ssl.SSLContext | None:
    """A verifying TLS context that also trusts `ca_file` (None: the system's defaults)."""
    if ca_file is None:
        return None
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile=str(ca_file))
    return ctx


def ccxt_credentials(cfg: Any) -> dict[str, Any]:
    return {
        ccxt: getattr(cfg, ours) for ours, ccxt in _CCXT_CREDENTIALS.items() if getattr(cfg, ours)
    }


def build_venue(settings: Any, name: str, *, live: bool = False, limiter: Any = None) -> Venue:
    """The order adapter of venue `name`, configured from `settings` (endpoints, credentials,
    `ca_file`); live adapters refuse plain-http endpoints and missing credentials."""
    if name not in VENUES:
        raise ConfigError(
            "NZEZA_LIVE_VENUE", f"unknown venue {name!r}", f"one of {', '.join(VENUES)}"
        )
    cfg = settings.venue(name)
    limiter = limiter or process_limiter()
    ca_file = getattr(settings, "ca_file", None)
    if name == "dydx":
        from nzeza.venues.dydx.venue import DydxVenue

        if cfg.mnemonic is None:
            raise ConfigError("NZEZA_DYDX__MNEMONIC", "is missing", "the account's BIP39 phrase")
        indexer = (cfg.endpoint(name, "rest_url") or "").rstrip("/")
        # the indexer URL is configured as its v4 API root, as dYdX publishes it
        indexer = indexer.removesuffix("/v4")
        return DydxVenue(
            cfg.mnemonic,
            node_url=cfg.endpoint(name, "node_url") or "",
            indexer_url=indexer,
            chain_id=cfg.chain_id or "",
            live=live,
            limiter=limiter,
            ssl_context=tls_context(ca_file),
        )
    from nzeza.venues.ccxt import CcxtVenue

    venue = CcxtVenue(
        name,
        credentials=ccxt_credentials(cfg),
        api_url=cfg.endpoint(name, "rest_url"),
        live=live,
        limiter=limiter,
    )
    if ca_file is not None:
        # ccxt builds its TLS context from `cafile` when it opens its first connection
        venue.exchange.cafile = str(ca_file)
    return venue


def paper_venue(
    path: str | Path, instruments: Iterable[Instrument], costs: Costs, limiter: Any = None
) -> Venue:
    """The durable paper exchange in its own file (fills at the feed's last price, `costs`)."""
    from nzeza.venues.paper.durable import DurablePaperVenue

    return DurablePaperVenue(path, instruments, costs, limiter=limiter or process_limiter())


def _compact(text: str) -> str:
    return text.split(":", 1)[0].replace("/", "").replace("-", "").upper()


def find_instrument(markets: Mapping[str, Instrument], symbol: str, venue: str) -> Instrument:
    """The instrument of `symbol` (BTCUSDT, BTC/USDT, BTC-USD, or a bare coin) among a venue's
    markets: by its venue symbol, by base + quote, or by base alone when that is unique."""
    wanted = _compact(symbol)
    by_name = [
        i for i in markets.values() if wanted in (_compact(i.symbol), _compact(i.base + i.quote))
    ]
    if len(by_name) == 1:
        return by_name[0]
    by_base = [i for i in markets.values() if i.base.upper() == wanted]
    if not by_name and len(by_base) == 1:
        return by_base[0]
    near = sorted(i.symbol for i in markets.values() if _compact(i.base) in wanted)[:8]
    raise ValidationError(
        "symbol",
        symbol,
        f"is not a market on {venue}" + (f" (close: {', '.join(near)})" if near else ""),
    )


__all__ = [
    "CCXT_VENUES",
    "VENUES",
    "build_venue",
    "ccxt_credentials",
    "find_instrument",
    "paper_venue",
    "process_limiter",
    "tls_context",
]
