"""Wiring a portfolio paper session: symbols, one feed per symbol merged on one clock, the
durable paper venue with every instrument, the ledger, the lock, the kill switches.

`open_portfolio_session(plan, settings)` is `runner.open_session` for a portfolio strategy
(`SessionPlan.symbol` holds the symbols, comma-separated, e.g. "BTCUSDT,ETHUSDT"). The feed is
one of:

- `ws://HOST:PORT`: nzeza's replay server holding every symbol's captures (`nzeza feed replay
  FILE FILE ...`); one connection per symbol, each resuming on its own after a drop;
- `capture:NAME,NAME`: one bundled capture per symbol, in the symbols' order;
- `replay:FILE,FILE`: one capture file per symbol, in the symbols' order.

Several venues (paper): a symbol given as `VENUE:SYMBOL` (`--symbol
binance:BTCUSDT,kraken:ETHUSDT`) trades on the paper venue named VENUE; a plain `SYMBOL` on the
session's venue (`paper`). Each venue name gets its own durable paper venue (its own file beside
`--venue-db`: `paper-venue.sqlite` for `paper`, `paper-venue-kraken.sqlite` for `kraken`) and
its own cash account (an equal share of `--cash`); weights are of the total equity, a buy is
limited by its venue's cash (`nzeza.engine.portfolio_session`). A symbol trades on one venue
only (the strategy's panel is keyed by symbol). Live sessions trade on one venue.

Live (`plan.mode == "live"`): every live gate first (`live_check(settings, ledger, plan)`:
`nzeza.promotion.live_check.check_plan`, whose binding names every symbol in order, the
portfolio risk limits among the risk settings), then one venue adapter holding every symbol's
instrument (from the venue's own markets), one trade stream per symbol from the venue's own
feed, and the starting cash read from the account (`risk.account_fraction` of its free quote;
`--cash` is refused as in single-symbol live sessions).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nzeza.errors import ValidationError

DEFAULT_SYMBOLS = "BTCUSDT,ETHUSDT"
DEFAULT_FEED = "capture:binance_btcusdt,binance_ethusdt"


def portfolio_symbols(text: str | None) -> list[str]:
    """`BTCUSDT,ETHUSDT` → the symbols (two or more, distinct), as `--symbol` gives them."""
    symbols = [s.strip() for s in (text or DEFAULT_SYMBOLS).split(",") if s.strip()]
    if len(symbols) < 2 or len(set(symbols)) != len(symbols):
        raise ValidationError(
            "--symbol",
            text,
            "a portfolio strategy trades two or more distinct symbols: --symbol BTCUSDT,ETHUSDT",
        )
    return symbols


PAPER_VENUE = "paper"  # the venue of a plain SYMBOL in a paper session
_VENUE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,23}$")


def venue_symbols(symbols: list[str], default: str = PAPER_VENUE) -> list[tuple[str, str]]:
    """`VENUE:SYMBOL` or `SYMBOL` (on `default`) → (venue, symbol) pairs; one venue a symbol."""
    pairs = []
    for text in symbols:
        venue, sep, symbol = text.rpartition(":")
        venue = venue.strip().lower() if sep else default
        if not _VENUE_NAME.match(venue) or not symbol.strip():
            raise ValidationError(
                "--symbol", text, "must be SYMBOL or VENUE:SYMBOL, e.g. kraken:ETHUSD"
            )
        pairs.append((venue, symbol.strip()))
    plain = [s for _, s in pairs]
    if len(set(plain)) != len(plain):
        raise ValidationError(
            "--symbol", ",".join(symbols), "a symbol trades on one venue only in a session"
        )
    return pairs


def venue_db_path(base: Path, venue: str) -> Path:
    """The durable paper venue file of `venue`: `base` for the session's own venue, else
    `base` with `-VENUE` before its suffix."""
    if venue == PAPER_VENUE:
        return base
    return base.with_name(f"{base.stem}-{venue}{base.suffix}")


def named_paper_venue(path: Path, instruments: list[Any], costs: Any, name: str) -> Any:
    """The durable paper venue `paper_venue` builds, named `name` (its orders, trades and
    errors say which venue of the session they are)."""
    from nzeza.venues.factory import process_limiter
    from nzeza.venues.paper.durable import DurablePaperVenue

    return DurablePaperVenue(path, instruments, costs, limiter=process_limiter(), name=name)


def symbol_feeds(feed: str, symbols: list[str], settings: Any = None) -> list[Any]:
    """One `FeedSpec` per symbol for `feed` (see the module docstring)."""
    from nzeza.engine.runner import resolve_feed

    if feed.startswith(("ws://", "wss://")):
        return [resolve_feed(feed, s, settings) for s in symbols]
    kind, _, rest = feed.partition(":")
    parts = [p for p in rest.split(",") if p]
    if kind not in ("capture", "replay") or len(parts) != len(symbols):
        raise ValidationError(
            "--feed",
            feed,
            f"a portfolio session of {len(symbols)} symbols reads ws://HOST:PORT (a replay "
            f"server with every symbol), or capture:NAME,... / replay:FILE,... with one per "
            "symbol, in the order of --symbol",
        )
    specs = []
    for sym, part in zip(symbols, parts, strict=True):
        spec = resolve_feed(f"{kind}:{part}", sym, settings)
        from nzeza.engine.feedspec import compact_symbol

        if compact_symbol(spec.symbol) != compact_symbol(sym):
            raise ValidationError("--feed", part, f"holds {spec.symbol}, not {sym}")
        specs.append(spec)
    return specs


@dataclass
class OpenPortfolioSession:
    session: Any
    trades: Any
    feed_name: str
    symbols: list[str]
    log_file: Path
    server_url: str | None = None  # /metrics and /healthz, when `plan.metrics_port` is set


async def live_portfolio_parts(
    settings: Any, symbols: list[str]
) -> tuple[Any, dict[str, Any], list[Any], Any]:
    """The live venue adapter, every symbol's instrument from the venue's own markets, one
    feed spec per symbol on the venue's trade stream, and the feed's TLS context. Call only
    after every live gate passed."""
    from nzeza.engine.feedspec import FeedSpec
    from nzeza.engine.live import tls_context
    from nzeza.errors import ConfigError
    from nzeza.feeds.streams import wire_symbol
    from nzeza.venues.factory import build_venue, find_instrument

    name = settings.live_venue
    venue = build_venue(settings, name, live=True)
    try:
        markets = await venue.load_markets()
        instruments = {s: find_instrument(markets, s, name) for s in symbols}
        url = settings.venue(name).endpoint(name, "ws_url")
        if url is None:
            raise ConfigError(f"NZEZA_{name.upper()}__WS_URL", "no trade stream endpoint")
    except BaseException:
        await venue.close()
        raise
    specs = [
        FeedSpec("venue", wire_symbol(name, f"{i.base}/{i.quote}"), url=url, venue=name)
        for i in instruments.values()
    ]
    return venue, instruments, specs, tls_context(settings)


async def live_cash(venue: Any, instruments: dict[str, Any], costs: Any, settings: Any) -> Any:
    """A live portfolio's starting cash: `risk.account_fraction` of the account's free quote
    (the symbols share one quote currency); no free quote, no session."""
    from nzeza.engine.account import Account

    first = next(iter(instruments.values()))
    return await Account(venue, first, costs, settings.risk.account_fraction).start()


def portfolio_health(session: Any, ledger: Any, breakers: list[Any]) -> Any:
    """The /healthz components of a running portfolio session: trades arriving, the venue
    reachable, the ledger writable (a read-only probe on its own connections), every symbol's
    feed breaker closed, the session not stopping."""
    from nzeza.ops.health import CachedCheck, Health
    from nzeza.store.probe import probe

    health = Health()
    health.register("feed", session.feed_health)
    health.register("venue", session.venue_health)
    health.register("ledger", CachedCheck(probe(ledger)))

    def breaker_check() -> tuple[bool, str]:
        if not breakers:
            return True, "no network feed"
        states = [b.state.value for b in breakers]
        return all(s != "open" for s in states), ", ".join(states)

    health.register("breaker", breaker_check)
    health.register("session", session.session_health)
    return health


@contextlib.asynccontextmanager
async def open_portfolio_session(
    plan: Any, settings: Any, live_check: Callable[[Any, Any, Any], None] | None = None
) -> AsyncIterator[OpenPortfolioSession]:
    """Assemble the portfolio session `plan` (a `runner.SessionPlan`) describes; everything it
    opened is closed on exit. The session id is locked first; a killed session refuses; live
    runs `live_check(settings, ledger, plan)` first (none given: live refuses)."""
    from nzeza.engine.aligned import merge_trades
    from nzeza.engine.lifecycle import kill_check
    from nzeza.engine.portfolio_session import PortfolioSession, PortfolioSessionConfig
    from nzeza.engine.runner import feed_breaker, session_instrument, session_scope
    from nzeza.feeds.bars import timeframe_ns
    from nzeza.venues.factory import paper_venue

    if plan.mode not in ("paper", "live"):
        raise ValidationError("mode", plan.mode, "must be paper or live")
    if plan.vol_targeting is not None:
        raise ValidationError("--vol-target", plan.vol_targeting.target_vol, "single-symbol only")
    if plan.mode == "paper" and plan.cash is None:
        raise ValidationError("cash", None, "a paper session needs its starting cash")
    pairs = venue_symbols(portfolio_symbols(plan.symbol))
    symbols = [s for _, s in pairs]
    venue_of = dict((s, v) for v, s in pairs)
    multi = len({v for v, _ in pairs}) > 1
    async with session_scope(plan, settings, live_check) as scope:
        session_id, ledger, metrics = scope.session_id, scope.ledger, scope.metrics
        ssl_context = None
        if plan.mode == "live" and live_check is not None:  # the scope refused it without
            if any(":" in s for s in portfolio_symbols(plan.symbol)):
                raise ValidationError(
                    "--symbol", plan.symbol, "a live session trades on one venue: plain symbols"
                )
            live_check(settings, ledger, plan)  # every gate, before anything is built
            venue, instruments, specs, ssl_context = await live_portfolio_parts(settings, symbols)
            scope.venue = venue
            feed_name = str(settings.live_venue)
            cash = await live_cash(venue, instruments, plan.costs, settings)
        else:
            feed_name = plan.feed or DEFAULT_FEED
            specs = symbol_feeds(feed_name, symbols, settings)
            instruments = {
                s: session_instrument(spec.symbol, venue_of[s])
                for s, spec in zip(symbols, specs, strict=True)
            }
            venue_db = plan.venue_db or Path(settings.runs_dir) / "paper-venue.sqlite"
            if multi:  # one durable paper venue per venue name, each in its own file
                venue = scope.venue = {}
                for name in dict.fromkeys(venue_of.values()):
                    mine = [i for i in instruments.values() if i.venue == name]
                    path = venue_db_path(venue_db, name)
                    venue[name] = named_paper_venue(path, mine, plan.costs, name)
            else:
                venue = scope.venue = paper_venue(venue_db, list(instruments.values()), plan.costs)
            cash = plan.cash
        log_file = scope.start_logging(settings)
        cfg = PortfolioSessionConfig(
            session_id,
            plan.strategy,
            plan.strategy_name,
            plan.params,
            instruments,
            plan.costs,
            cash,
            timeframe_ns(plan.timeframe),
            mode=plan.mode,
            record={
                "feed": feed_name,
                "symbols": symbols,
                "timeframe": plan.timeframe,
                "fee": plan.costs.fee,
                "slippage": plan.costs.slippage,
                "init_cash": float(cash),
            },
            risk=settings.risk,
        )
        session = PortfolioSession(
            cfg,
            ledger,
            venue,
            kill_switch=kill_check(settings.runs_dir, session_id),
            lock=scope.lock,
            metrics=metrics,
        )
        start = session.resume_from_ns()
        breakers = [feed_breaker(spec, metrics) for spec in specs]
        feeds = {
            s: scope.trades(spec, start, breaker, plan, ssl_context)
            for s, spec, breaker in zip(symbols, specs, breakers, strict=True)
        }
        server_url = scope.serve(
            plan.metrics_port,
            lambda: portfolio_health(session, ledger, [b for b in breakers if b is not None]),
        )
        yield OpenPortfolioSession(
            session, merge_trades(feeds), feed_name, symbols, log_file, server_url
        )


__all__ = [
    "DEFAULT_FEED",
    "DEFAULT_SYMBOLS",
    "PAPER_VENUE",
    "OpenPortfolioSession",
    "live_cash",
    "live_portfolio_parts",
    "named_paper_venue",
    "open_portfolio_session",
    "portfolio_health",
    "portfolio_symbols",
    "symbol_feeds",
    "venue_db_path",
    "venue_symbols",
]
