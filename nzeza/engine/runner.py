"""Wiring a session from typed values: strategy, feed, venue, risk, ledger, lock, metrics.

`open_session(SessionPlan, Settings)` assembles a paper or live session and hands it over ready
to run; the `nzeza paper|live` command (`nzeza.cli.run`) builds the plan from its flags and
prints, a notebook calls the same parts. Only the wiring differs between paper and live
(DESIGN: one kernel, swapped parts)."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from nzeza.domain import Costs, Instrument
from nzeza.engine.feedspec import VENUE_FEEDS, FeedSpec, compact_symbol
from nzeza.engine.sizing import VolTargeting
from nzeza.errors import LiveTradingNotAllowed, ValidationError

BUNDLED_FEEDS = {
    "binance_btcusdt": ("BINANCE_BTCUSDT", "BTCUSDT"),
    "binance_ethusdt": ("BINANCE_ETHUSDT", "ETHUSDT"),
}


def parse_params(items: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    """`["fast=10", "slow=30.5", "mode=trend"]` → {"fast": 10, "slow": 30.5, "mode": "trend"}."""
    if isinstance(items, dict) or items is None:
        return dict(items or {})
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValidationError("params", item, "must be KEY=VALUE")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        out[key] = value
    return out


def parse_mapping(field: str, value: Any) -> dict[str, Any]:
    """A mapping from a mapping, a JSON object string, or None / "" (empty)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                field, value, f"is not a JSON object ({exc.msg} at char {exc.pos})"
            ) from None
    if not isinstance(value, Mapping):
        raise ValidationError(field, value, 'must be a mapping or a JSON object like {"k": 1}')
    return {str(k): v for k, v in value.items()}


def resolve_class(spec: str) -> tuple[type, str]:
    """A strategy class from a shipped name, `module:Class` or `path/to/file.py:Class`
    (`nzeza.strategies.loading`), and the name it was given by."""
    from nzeza.strategies.loading import strategy_class

    cls = strategy_class(spec)
    return cls, (spec.rpartition(":")[2] if ":" in spec else spec)


def resolve_strategy(spec: str, params: list[str] | dict[str, Any] | None) -> tuple[Any, str, dict]:
    """A strategy instance from a registered name or `module:Class`, and its name and params."""
    kwargs = parse_params(params)
    cls, name = resolve_class(spec)
    strategy = cls(**kwargs)
    return strategy, name, dict(getattr(strategy, "params", kwargs) or kwargs)


def session_instrument(symbol: str, venue: str = "paper") -> Instrument:
    """The paper instrument on the research grid (parity with replay), from a symbol in any
    venue's spelling: BTCUSDT → BTC/USDT, BTC-USD and BTC/USD → BTC/USD, and a bare
    Hyperliquid coin, whose perpetuals settle in USDC, BTC → BTC/USDC."""
    from nzeza.engine.replay import RESEARCH_TICK

    for sep in ("/", "-"):
        if sep in symbol:
            base, _, quote = symbol.partition(sep)
            break
    else:
        quote = next((q for q in ("USDT", "USDC", "USD", "BTC") if symbol.endswith(q)), "")
        base = symbol[: -len(quote)] if quote else symbol
        if not quote or not base:  # a bare coin
            base, quote = symbol, "USDC"
    return Instrument(venue, f"{base}/{quote}", base, quote, RESEARCH_TICK, RESEARCH_TICK)


def feed_paths(feed: str) -> tuple[list[Path], str | None]:
    """`capture:NAME` (bundled) or `replay:FILE[,FILE]` → capture files and their symbol."""
    from nzeza.feeds import capture

    kind, _, rest = feed.partition(":")
    if kind == "capture":
        if rest not in BUNDLED_FEEDS:
            raise ValidationError("feed", feed, f"bundled captures: {', '.join(BUNDLED_FEEDS)}")
        attr, symbol = BUNDLED_FEEDS[rest]
        return [capture.bundled(n) for n in getattr(capture, attr)], symbol
    if kind == "replay":
        paths = [Path(p) for p in rest.split(",") if p]
        missing = [str(p) for p in paths if not p.is_file()]
        if not paths or missing:
            raise ValidationError("feed", feed, f"no such capture file: {missing or rest}")
        return paths, None
    raise ValidationError(
        "feed",
        feed,
        "must be capture:NAME, replay:FILE[,FILE...], ws://HOST:PORT (a replay server) or a "
        f"venue name ({', '.join(VENUE_FEEDS)})",
    )


def session_record(
    feed: str, symbol: str, timeframe: str, costs: Costs, cash: float
) -> dict[str, Any]:
    """The session config kept in the ledger: enough to rebuild and replay its bars. The
    maker fee only where it differs from the taker `fee` (records made before stay as they
    were)."""
    record = {
        "feed": feed,
        "symbol": symbol,
        "timeframe": timeframe,
        "fee": costs.fee,
        "slippage": costs.slippage,
        "init_cash": float(cash),
    }
    if costs.maker != costs.fee:
        record["maker"] = costs.maker
    return record


def risk_hook(
    ledger: Any,
    session_id: str,
    instrument: Instrument,
    portfolio: Any,
    metrics: Any = None,
    config: Any = None,
    costs: Costs | None = None,
) -> Any:
    """The risk gate of a session (`nzeza.engine.riskgate`; the default limits when no
    config is given)."""
    from nzeza.engine.riskgate import risk_hook as gate

    return gate(ledger, session_id, instrument, portfolio, metrics, config, costs)


def resolve_feed(feed: str, symbol: str, settings: Any = None) -> FeedSpec:
    """`--feed` → a FeedSpec. A venue name reads the venue's public trade stream at the
    endpoint configured for it (`NZEZA_<VENUE>__WS_URL`, default the venue's production URL)."""
    from nzeza.ops.settings import VENUES

    if feed.startswith(("ws://", "wss://")):
        return FeedSpec("url", symbol, url=feed)
    name = feed.strip().lower()
    if name in VENUES:
        from nzeza.feeds.streams import wire_symbol

        if settings is None:
            from nzeza.ops.settings import load_settings

            settings = load_settings(require_live=False)
        url = settings.venue(name).endpoint(name, "ws_url")
        return FeedSpec("venue", wire_symbol(name, symbol), url=url, venue=name)
    paths, bundled_symbol = feed_paths(feed)
    if feed.startswith("capture:"):
        return FeedSpec("capture", bundled_symbol or symbol, paths=tuple(paths))
    return replay_spec(feed, paths, symbol)


def replay_spec(feed: str, paths: list[Path], symbol: str) -> FeedSpec:
    """A recording of any venue: its format is recognised from its first messages, and its
    symbol is `symbol` when its trades are of it (in any spelling), else its only symbol."""
    from nzeza.feeds.capture import sniff

    info = sniff(paths[0])
    same = [s for s in info.trade_symbols if compact_symbol(s) == compact_symbol(symbol)]
    if same:
        return FeedSpec("replay", same[0], paths=tuple(paths), venue=info.venue)
    if len(info.trade_symbols) == 1:
        return FeedSpec("replay", info.trade_symbols[0], paths=tuple(paths), venue=info.venue)
    raise ValidationError(
        "symbol",
        symbol,
        f"is not among the trades of {feed} ({info.venue}): "
        f"{', '.join(info.trade_symbols) or 'no trades in its first messages'}",
    )


def trade_source(
    spec: FeedSpec,
    from_ns: int | None,
    *,
    metrics: Any = None,
    breaker: Any = None,
    pace: float = 0.0,
    ssl_context: Any = None,
    live: bool = False,
) -> Any:
    """The async iterator of public trades a `FeedSpec` names (`engine.feed.session_trades`:
    capture files, or a websocket on the one connection manager)."""
    from nzeza.engine.feed import session_trades

    return session_trades(
        spec,
        from_ns,
        metrics=metrics,
        breaker=breaker,
        pace=pace,
        ssl_context=ssl_context,
        live=live,
    )


def feed_breaker(spec: FeedSpec, metrics: Any = None) -> Any:
    """A circuit breaker for a network feed (None for files), its state exported as a metric."""
    if spec.kind not in ("url", "venue"):
        return None
    from nzeza.feeds.breaker import CircuitBreaker

    name = f"{spec.venue}-ws"

    def export(old: Any, new: Any, reason: str) -> None:
        if metrics is not None:
            metrics.set_breaker_state(name, new.value)

    breaker = CircuitBreaker(name, failure_threshold=3, window_s=60.0, on_transition=export)
    if metrics is not None:
        metrics.set_breaker_state(name, breaker.state.value)
    return breaker


def session_health(session: Any, ledger: Any, breaker: Any = None, feed: Any = None) -> Any:
    """The /healthz components of a running session: feed fresh (trades arriving and, for a
    websocket `feed`, its connection open and not stale), venue reachable, ledger writable (a
    read-only probe that holds no connection), feed breaker closed, and the session's own
    state."""
    from nzeza.ops.health import CachedCheck, Health
    from nzeza.store.probe import probe

    health = Health()
    health.register("feed", _feed_check(session, feed))
    health.register("venue", session.venue_health)
    # read-only, on connections of its own, at most once a second: never the ledger's pool
    health.register("ledger", CachedCheck(probe(ledger)))
    if breaker is None:
        health.register("breaker", lambda: (True, "no network feed"))
    else:
        health.register("breaker", lambda: (breaker.state.value != "open", breaker.state.value))
    health.register(
        "session",
        lambda: (
            session.machine.state.value in ("running", "recovering"),
            session.machine.state.value,
        ),
    )
    return health


def _feed_check(session: Any, feed: Any) -> Any:
    connection_health = getattr(feed, "health", None)
    if connection_health is None:  # a capture file: trade freshness only
        return session.feed_health

    def check() -> tuple[bool, dict[str, Any]]:
        ok, detail = session.feed_health()
        conn_ok, conn = connection_health()
        return ok and conn_ok, {**detail, "connection": conn}

    return check


@dataclass(frozen=True)
class PerpTerms:
    """A session's instrument as a perpetual of `venue` (its funding interval): leverage,
    maintenance margin rate and maximum leverage, and where the venue's funding stream is
    (`funding_feed`; None: the venue's own for a venue feed, none for recordings)."""

    venue: str
    leverage: Decimal = Decimal(1)
    maintenance_margin_rate: Decimal = Decimal("0.005")
    max_leverage: Decimal = Decimal(20)
    funding_feed: str | None = None

    def instrument(self, inst: Instrument) -> Any:
        """`inst` (same venue, symbol, tick and lot: the same id) as a `Perpetual`."""
        from nzeza.domain import Perpetual
        from nzeza.domain.perpetual import FUNDING_INTERVAL_HOURS

        if self.venue not in FUNDING_INTERVAL_HOURS:
            raise ValidationError(
                "perp", self.venue, f"must be one of {sorted(FUNDING_INTERVAL_HOURS)}"
            )
        return Perpetual.of(
            inst,
            max_leverage=self.max_leverage,
            maintenance_margin_rate=self.maintenance_margin_rate,
            funding_interval_hours=FUNDING_INTERVAL_HOURS[self.venue],
        )


def funding_url(terms: PerpTerms, spec: FeedSpec) -> str | None:
    """Where a perpetual session reads its venue's funding stream: `--funding-feed`, else for
    a venue feed the venue's own (Binance: the USDⓈ-M host; Hyperliquid and dYdX: the trade
    stream's host), else none (a recording or a replay server has no funding stream)."""
    if terms.funding_feed:
        return terms.funding_feed
    if spec.kind != "venue":
        return None
    if terms.venue == "binance":
        from nzeza.feeds.binance import FUTURES_WS_URL

        return FUTURES_WS_URL.removesuffix("/stream")
    return spec.url


@dataclass(frozen=True)
class SessionPlan:
    """What a paper or live session is built from, as typed values (no argument parsing).

    `cash` is the paper account (quote currency); a live session sizes from the venue account
    instead. `session_id` None: a new id (`<mode>-<8 hex>`). `feed` None: the bundled Binance
    capture in paper, the venue's own stream in live. `metrics_port` None: no /metrics.
    """

    mode: str  # "paper" | "live"
    strategy: Any
    strategy_name: str
    params: dict[str, Any]
    costs: Costs
    timeframe: str
    symbol: str = "BTCUSDT"
    feed: str | None = None
    cash: Decimal | None = None
    session_id: str | None = None
    ledger_url: str | None = None
    venue_db: Path | None = None
    on_stop: str | None = None
    vol_targeting: VolTargeting | None = None
    orders: Any = None  # an OrderPolicy (None: the strategy's own, else market)
    pace: float = 0.0
    metrics_port: int | None = None
    perp: PerpTerms | None = None  # trade the symbol as a perpetual (funding, margin)


@dataclass
class OpenSession:
    """A session assembled and ready: `await open.session.run(open.trades)`."""

    session: Any
    trades: Any
    feed_name: str
    on_stop: str
    log_file: Path
    server_url: str | None = None


@dataclass
class SessionScope:
    """What every session (single-symbol or portfolio) holds open while it runs: its id, the
    ledger, the session lock and the metrics; the venue or venues (`venue`: None, one adapter,
    or a dict of them by name) and the ops server the caller adds are closed with it."""

    session_id: str
    ledger: Any
    lock: Any
    metrics: Any
    runs_dir: Path
    venue: Any = None
    server: Any = None

    def start_logging(self, settings: Any) -> Path:
        """Log to `<runs>/logs/<id>.jsonl` (and the console) from here on; the file's path."""
        from nzeza.ops.logging import configure_logging

        log_file = self.runs_dir / "logs" / f"{self.session_id}.jsonl"
        configure_logging(settings.log_level, json_file=log_file, console_json=settings.log_json)
        return log_file

    def serve(self, port: int | None, health: Callable[[], Any]) -> str | None:
        """Serve /metrics and `health()` (built only then) on `port`; None: no server. Its URL."""
        if port is None:
            return None
        from nzeza.ops.health import OpsServer

        self.server = OpsServer(self.metrics, health(), port=port).start()
        return str(self.server.url)

    def trades(
        self, spec: FeedSpec, from_ns: int | None, breaker: Any, plan: Any, ssl_context: Any
    ) -> Any:
        """The trade stream of `spec` from `from_ns` (`trade_source`), on this session's
        metrics, paced and live as `plan` says."""
        return trade_source(
            spec,
            from_ns,
            metrics=self.metrics,
            breaker=breaker,
            pace=plan.pace,
            ssl_context=ssl_context,
            live=plan.mode == "live",
        )


@contextlib.asynccontextmanager
async def session_scope(
    plan: Any, settings: Any, live_check: Callable[[Any, Any, Any], None] | None
) -> AsyncIterator[SessionScope]:
    """Open what every session starts with, in this order: the ledger, then the session id's
    lock (a second process on a running session refuses here, naming the holder, having
    written nothing); then a killed session refuses, and a live one without `live_check`
    refuses. On exit the ops server stops, the lock is released, the venues close, and the
    ledger closes."""
    from nzeza.engine.lifecycle import refuse_if_killed
    from nzeza.ops.metrics import Metrics
    from nzeza.store import open_ledger
    from nzeza.store.locks import SessionLock

    metrics = Metrics()
    session_id = plan.session_id or f"{plan.mode}-{uuid.uuid4().hex[:8]}"
    ledger = open_ledger(plan.ledger_url)
    try:
        lock = SessionLock(ledger, session_id).acquire()
    except BaseException:
        ledger.close()
        raise
    scope = SessionScope(session_id, ledger, lock, metrics, Path(settings.runs_dir))
    try:
        refuse_if_killed(settings.runs_dir, session_id)
        # the gates are the promotion layer's (`nzeza.promotion.live_check.check_plan`),
        # handed in by the caller: without them a live session does not start
        if plan.mode == "live" and live_check is None:
            raise LiveTradingNotAllowed(
                ["no live check was given: live sessions start through `nzeza live`, which "
                 "checks every gate (nzeza.promotion.live_check.check_plan)"]
            )  # fmt: skip
        yield scope
    finally:
        if scope.server is not None:
            scope.server.stop()
        lock.release()
        venue = scope.venue
        for one in venue.values() if isinstance(venue, dict) else [venue]:
            if one is not None:
                await one.close()
        ledger.close()


@contextlib.asynccontextmanager
async def open_session(
    plan: SessionPlan, settings: Any, live_check: Callable[[Any, Any, Any], None] | None = None
) -> AsyncIterator[OpenSession]:
    """Assemble the session `plan` describes; everything it opened is closed on exit.

    The session id is locked first, before anything else happens: a second process on a
    running session refuses here, naming the holder, having written nothing. Then: a killed
    session refuses to start; live runs `live_check(settings, ledger, plan)` (every gate:
    `nzeza.promotion.live_check.check_plan`; none given, live refuses) and reads the account it
    sizes from;
    logging goes to `<runs>/logs/<id>.jsonl`; the session is built with the settings' risk
    limits and watches its kill switches; `/metrics` and `/healthz` are served when asked.
    """
    from nzeza.engine.account import Account
    from nzeza.engine.lifecycle import kill_check
    from nzeza.engine.session import Session, SessionConfig
    from nzeza.feeds.bars import timeframe_ns

    on_stop = plan.on_stop or settings.open_orders_on_stop
    on_stop = getattr(on_stop, "value", on_stop)
    async with session_scope(plan, settings, live_check) as scope:
        session_id, ledger, metrics = scope.session_id, scope.ledger, scope.metrics
        if plan.mode == "live" and live_check is not None:  # the scope refused it without
            from nzeza.engine.live import live_parts

            # every gate, the promotion of exactly this run included, before anything is built
            live_check(settings, ledger, plan)
            venue, inst, spec, ssl_context = await live_parts(settings, plan.symbol)
            scope.venue = venue
            if plan.perp is not None:
                inst = plan.perp.instrument(inst)
            feed_name = spec.venue
            # live sizes from what the account holds; no balances, no session
            account = Account(venue, inst, plan.costs, settings.risk.account_fraction)
            cash = await account.start()
        else:
            from nzeza.engine.live import tls_context
            from nzeza.venues.factory import paper_venue

            if plan.cash is None:
                raise ValidationError("cash", None, "a paper session needs its starting cash")
            feed_name = plan.feed or "capture:binance_btcusdt"
            spec = resolve_feed(feed_name, plan.symbol, settings)
            inst = session_instrument(spec.symbol)
            if plan.perp is not None:
                inst = plan.perp.instrument(inst)
            venue_db = plan.venue_db or Path(settings.runs_dir) / "paper-venue.sqlite"
            venue = scope.venue = paper_venue(venue_db, [inst], plan.costs)
            ssl_context = tls_context(settings) if spec.kind in ("url", "venue") else None
            account, cash = None, plan.cash
        log_file = scope.start_logging(settings)
        cfg = SessionConfig(
            session_id,
            plan.strategy,
            plan.strategy_name,
            plan.params,
            inst,
            plan.costs,
            cash,
            timeframe_ns(plan.timeframe),
            mode=plan.mode,
            record=session_record(feed_name, spec.symbol, plan.timeframe, plan.costs, float(cash)),
            on_stop=on_stop,
            vol_targeting=plan.vol_targeting,
            risk=settings.risk,
            leverage=plan.perp.leverage if plan.perp is not None else Decimal(1),
            orders=plan.orders,
        )
        # the session's risk gate is built from cfg.risk (the settings' risk section)
        session = Session(
            cfg,
            ledger,
            venue,
            metrics=metrics,
            # its own kill switch (nzeza kill ID) and the global one (nzeza kill)
            kill_switch=kill_check(settings.runs_dir, session_id),
            account=account,
            lock=scope.lock,
        )
        breaker = feed_breaker(spec, metrics)
        # the trade stream first: its connection reports to /healthz
        trades = scope.trades(spec, session.resume_from_ns(), breaker, plan, ssl_context)
        url = funding_url(plan.perp, spec) if plan.perp is not None else None
        if url is not None and plan.perp is not None:
            # the venue's funding updates beside the trades: the session's FundingClock books
            # each funding time from them, once (docs/perpetuals.md, "Sessions")
            from nzeza.engine.feed import WithFunding, funding_feed

            # no metrics: its connection state would overwrite the trade stream's gauge (one
            # label per venue)
            funding = funding_feed(
                plan.perp.venue, url, spec.symbol, ssl_context=ssl_context,
                live=plan.mode == "live",
            )  # fmt: skip
            trades = WithFunding(trades, funding)
            feed_name = f"{feed_name} + {plan.perp.venue} funding"
        server_url = scope.serve(
            plan.metrics_port, lambda: session_health(session, ledger, breaker, trades)
        )
        yield OpenSession(session, trades, feed_name, on_stop, log_file, server_url)


__all__ = [
    "VENUE_FEEDS",
    "FeedSpec",
    "OpenSession",
    "PerpTerms",
    "SessionPlan",
    "SessionScope",
    "compact_symbol",
    "funding_url",
    "open_session",
    "parse_params",
    "resolve_class",
    "resolve_feed",
    "resolve_strategy",
    "session_health",
    "session_instrument",
    "session_scope",
    "trade_source",
]
