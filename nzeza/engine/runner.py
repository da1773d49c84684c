"""Wiring a session from CLI arguments or a notebook: strategy, feed, venue, risk, ledger,
metrics. Only the wiring differs between paper and live (DESIGN: one kernel, swapped parts)."""

from __future__ import annotations

import importlib
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from nzeza.domain import Costs, Instrument
from nzeza.errors import RiskRejected, ValidationError

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


def resolve_strategy(spec: str, params: list[str] | dict[str, Any] | None) -> tuple[Any, str, dict]:
    """A strategy instance from a registered name or `module:Class`, and its name and params."""
    kwargs = parse_params(params)
    if ":" in spec:
        module, _, cls_name = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError) as exc:
            raise ValidationError("strategy", spec, f"cannot be imported: {exc}") from None
        name = cls_name
    else:
        from nzeza.strategies import get_strategy

        cls = get_strategy(spec)
        name = spec
    strategy = cls(**kwargs)
    return strategy, name, dict(getattr(strategy, "params", kwargs) or kwargs)


def session_instrument(symbol: str, venue: str = "paper") -> Instrument:
    """The paper instrument: BTCUSDT → BTC/USDT on the research grid (parity with replay)."""
    from nzeza.engine.replay import RESEARCH_TICK

    quote = next((q for q in ("USDT", "USDC", "USD", "BTC") if symbol.endswith(q)), "USDT")
    base = symbol[: -len(quote)] or "BASE"
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
    raise ValidationError("feed", feed, "must be capture:NAME or replay:FILE[,FILE...]")


def session_record(
    feed: str, symbol: str, timeframe: str, costs: Costs, cash: float
) -> dict[str, Any]:
    """The session config kept in the ledger: enough to rebuild and replay its bars."""
    return {
        "feed": feed,
        "symbol": symbol,
        "timeframe": timeframe,
        "fee": costs.fee,
        "slippage": costs.slippage,
        "init_cash": float(cash),
    }


def ledger_writable(ledger: Any) -> tuple[bool, str]:
    try:
        with ledger.transaction() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        return False, f"not writable: {type(exc).__name__}"
    return True, "writable"


def risk_hook(
    ledger: Any,
    session_id: str,
    instrument: Instrument,
    portfolio: Any,
    metrics: Any = None,
    config: Any = None,
) -> Any:
    """A pre-trade check: the risk engine on each intent, rejections journaled and counted."""
    from nzeza.risk import OrderIntent, RiskConfig, RiskContext, RiskEngine

    def journal(rejection: RiskRejected, intent: Any, now_ns: int) -> None:
        ledger.record_risk_event(
            session_id, rejection.check, rejection.limit, rejection.value, rejection.detail, now_ns
        )
        if metrics is not None:
            metrics.risk_rejections.labels(rejection.check).inc()

    engine = RiskEngine(
        config or RiskConfig(max_slippage_bps=None), {instrument.id: instrument}, journal=journal
    )

    def check(intent: Any) -> None:
        import time

        snap = portfolio.snapshot()
        ref = intent.reference_price
        order = OrderIntent(instrument.id, intent.side, intent.quantity, seq=intent.seq)
        ctx = RiskContext(
            snap, {instrument.id: ref}, time.time_ns(), reference_prices={instrument.id: ref}
        )
        decision = engine.check(order, ctx)
        if not decision.accepted and decision.rejection is not None:
            raise decision.rejection

    return check


async def run_cli_session(args: Any) -> int:
    """`nzeza paper|live` — build the parts, run, print the summary."""
    from nzeza.engine.session import Session, SessionConfig, install_signal_handlers
    from nzeza.engine.sources import capture_trades, websocket_trades
    from nzeza.feeds.bars import parse_timeframe
    from nzeza.ops.health import Health, OpsServer
    from nzeza.ops.metrics import Metrics
    from nzeza.ops.settings import load_settings
    from nzeza.risk.killswitch import DEFAULT_KILL_FILE, KillSwitch
    from nzeza.store import open_ledger
    from nzeza.venues.paper.durable import DurablePaperVenue

    settings = load_settings(require_live=args.mode == "live")
    strategy, name, params = resolve_strategy(args.strategy, args.params)
    if args.mode == "live":
        from nzeza.store.promotions import require_live_promotion

        with open_ledger(args.ledger) as ledger:
            require_live_promotion(ledger, name, params)
        raise ValidationError(  # reached only with every gate in place
            "mode",
            "live",
            "live sessions need a venue websocket feed; this build runs live "
            "orders through `nzeza.venues` but the live feed wiring is not finished",
        )
    websocket = args.feed.startswith(("ws://", "wss://"))
    paths, symbol = ([], None) if websocket else feed_paths(args.feed)
    symbol = symbol or args.symbol
    inst = session_instrument(symbol)
    costs = Costs(args.fee, args.slippage)
    session_id = args.session_id or f"paper-{uuid.uuid4().hex[:8]}"
    ledger = open_ledger(args.ledger)
    venue = DurablePaperVenue(
        args.venue_db or Path(settings.runs_dir) / "paper-venue.sqlite", [inst], costs
    )
    metrics, health = Metrics(), Health()
    cfg = SessionConfig(
        session_id,
        strategy,
        name,
        params,
        inst,
        costs,
        Decimal(str(args.cash)),
        parse_timeframe(args.timeframe),
        mode=args.mode,
        record=session_record(args.feed, symbol, args.timeframe, costs, args.cash),
    )
    kill = KillSwitch(DEFAULT_KILL_FILE)
    session = Session(cfg, ledger, venue, metrics=metrics, kill_switch=kill.engaged)
    session.pre_trade = risk_hook(ledger, session_id, inst, session.portfolio, metrics)
    health.register("ledger", lambda: ledger_writable(ledger))
    health.register("feed", lambda: session.feed_health())
    health.register(
        "session",
        lambda: (
            session.machine.state.value in ("running", "recovering"),
            session.machine.state.value,
        ),
    )
    server = (
        OpsServer(metrics, health, port=args.metrics_port).start()
        if args.metrics_port is not None
        else None
    )
    install_signal_handlers(session)
    state = "resuming" if session.report.resumed else "starting"
    print(
        f"{state} {args.mode} session {session_id}: {name} {params} on {args.feed} "
        f"({args.timeframe} bars)",
        flush=True,
    )
    try:
        start = session.resume_from_ns()
        trades = (
            websocket_trades(args.feed, symbol, from_ns=start, metrics=metrics)
            if websocket
            else capture_trades(paths, symbol, from_ns=start, pace=args.pace)
        )
        report = await session.run(trades)
    finally:
        if server is not None:
            server.stop()
        await venue.close()
        ledger.close()
    print(
        f"session {session_id} {report.stopped_by}: {report.bars} bars, {report.fills} fills "
        f"({report.reconciled_fills} reconciled, {report.resubmitted} resubmitted), "
        f"equity {report.final_equity:.6f}",
        flush=True,
    )
    return 0


__all__ = ["parse_params", "resolve_strategy", "run_cli_session", "session_instrument"]
