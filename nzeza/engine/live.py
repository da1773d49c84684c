"""Live sessions: every gate checked and named together, then the live parts.

Live is opt-in twice (DESIGN principle 7). `live_gates` checks every gate and `live_problems`
lists every one that fails: explicit confirmation, a live venue, https/wss endpoints, present and
well-formed credentials (all from `Settings.live_problems`), a venue whose trade feed a session
can read, the venue's own feed (never a recording), a passed live promotion of exactly this
strategy + parameters in the ledger, and the ledger's integrity (its keyed audit chain, every
row it covers and its anchor verify; the promotion's row and its own entry in the chain agree).
One refusal names everything left to fix, and a notebook
shows the same gates (`nzeza.notebook.live.live_gates`). `live_parts` then builds what differs
from paper: the venue's order adapter (`nzeza.venues.factory`: ccxt for Binance, Coinbase,
Kraken and Hyperliquid, the Cosmos-signing adapter for dYdX) and its public trade stream. The
session loop itself is the paper one.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from nzeza.errors import ConfigError, LiveTradingNotAllowed

ENV = "NZEZA_"


def live_gates(
    settings: Any,
    ledger: Any,
    strategy: str,
    params: Mapping[str, Any],
    feed: str | None = None,
) -> list[tuple[str, list[str], str]]:
    """Every live gate as (name, problems, what passing means): the CLI refuses on any problem,
    a notebook shows each gate passed or failed. One list, so both always check the same."""
    from nzeza.engine.feedspec import VENUE_FEEDS

    problems = list(settings.live_problems())
    venue = settings.live_venue
    if venue is not None and venue not in VENUE_FEEDS:
        problems.append(
            f"{ENV}LIVE_VENUE={venue}: live sessions read their trades from "
            f"{', '.join(VENUE_FEEDS)} only"
        )
    if feed is not None and feed.strip().lower() != (venue or ""):
        problems.append(
            f"--feed {feed}: a live session trades on its venue's own feed "
            f"(--feed {venue or 'VENUE'} or no --feed), never on a recording or replay"
        )
    return [
        ("live settings", problems, "endpoints, credentials and confirmation"),
        promotion_gate(ledger, strategy, params),
        integrity_gate(ledger, strategy, params),
    ]


def promotion_gate(
    ledger: Any, strategy: str, params: Mapping[str, Any]
) -> tuple[str, list[str], str]:
    """The promotion gate alone: a passed live promotion of exactly these parameters."""
    from nzeza.store.promotions import require_live_promotion

    try:
        row = require_live_promotion(ledger, strategy, params)
    except LiveTradingNotAllowed as exc:
        return ("promotion", list(exc.reasons), "")
    return ("promotion", [], f"promotion record #{row['id']}")


def integrity_gate(
    ledger: Any, strategy: str, params: Mapping[str, Any], shown: int = 5
) -> tuple[str, list[str], str]:
    """The ledger integrity gate: the keyed audit chain, every row it covers and its anchor
    verify, and the live promotion (if there is one) is the ledger's own — its row and its
    promotion entry in the chain agree. Lists the promotion's problems first, then up to
    `shown` others."""
    from nzeza.store.promotions import promotion_evidence, require_live_promotion

    report = ledger.verify_audit()
    problems: list[str] = []
    try:
        row = require_live_promotion(ledger, strategy, params)
    except LiveTradingNotAllowed:
        row = None
    named = None
    if row is not None:
        problems += promotion_evidence(report, row)
        named = report.about("promotions", row["id"])
    others = [str(p) for p in report.problems if not named or p not in named]
    more = len(others) - shown + report.more_problems
    problems += others[:shown]
    if more > 0:
        problems.append(f"... and {more} more")
    if not problems and not report.ok:
        problems.append(report.reason)
    if problems:
        problems = [f"ledger integrity: {p}" for p in problems]
        problems[-1] += "; see `nzeza audit verify`"
    passed = f"{report.rows} chain entries and {report.covered_rows} rows verified, {report.anchor}"
    return ("ledger integrity", problems, passed)


def live_problems(
    settings: Any,
    ledger: Any,
    strategy: str,
    params: Mapping[str, Any],
    feed: str | None = None,
) -> list[str]:
    """Every reason this live session may not start (empty when it may)."""
    gates = live_gates(settings, ledger, strategy, params, feed)
    return [problem for _, problems, _ in gates for problem in problems]


def require_live(
    settings: Any,
    ledger: Any,
    strategy: str,
    params: Mapping[str, Any],
    feed: str | None = None,
) -> None:
    """Raise `LiveTradingNotAllowed` naming every failed gate, or return."""
    problems = live_problems(settings, ledger, strategy, params, feed)
    if problems:
        raise LiveTradingNotAllowed(problems)


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
