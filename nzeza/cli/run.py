"""Running `nzeza paper|live`: the checked flags become a `SessionPlan`, the engine assembles
the session (`nzeza.engine.runner.open_session`), and this module prints what happens."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.errors import clip

if TYPE_CHECKING:
    from nzeza.engine.runner import SessionPlan


def plan_from(args: argparse.Namespace, settings: Any) -> SessionPlan:
    """The typed `SessionPlan` of checked `nzeza paper|live` flags."""
    from pathlib import Path

    from nzeza.cli.args import (
        costs_from,
        metrics_port,
        order_policy_from,
        strategy_arg,
        vol_targeting_from,
    )
    from nzeza.engine.runner import SessionPlan, resolve_strategy

    strategy, name, params = resolve_strategy(strategy_arg(args), args.params)
    return SessionPlan(
        mode=args.mode,
        strategy=strategy,
        strategy_name=name,
        params=params,
        costs=costs_from(args),
        timeframe=args.timeframe,
        symbol=args.symbol or _default_symbol(strategy),
        feed=args.feed,
        cash=None if args.cash is None else Decimal(str(args.cash)),
        session_id=args.session_id,
        ledger_url=args.ledger,
        venue_db=Path(args.venue_db) if getattr(args, "venue_db", None) else None,
        on_stop=getattr(args, "on_stop", None),
        vol_targeting=vol_targeting_from(args),
        orders=order_policy_from(args),
        pace=args.pace,
        metrics_port=metrics_port(args, settings),
        perp=getattr(args, "perp_terms", None),
    )


def leverage_note(perp: Any, risk: Any) -> str | None:
    """What a perpetual session's leverage meets in the risk limits (on by default, shares of
    equity): a full-size target at 3× is a position of 300 % of equity, which the default
    `max_position_notional` of 150 % cuts. None when nothing is in the way."""
    if perp is None or perp.leverage <= 1:
        return None
    caps = []
    for name in ("max_position_notional", "max_order_notional"):
        value = getattr(risk, name, None)
        share = isinstance(value, str) and value.endswith("%")
        if share and perp.leverage > Decimal(str(value).removesuffix("%")) / 100:
            caps.append(f"{name} {value}")
    if not caps:
        return None
    return (
        f"note: {perp.leverage:f}× leverage is above the risk limit(s) {', '.join(caps)} of "
        "equity: the risk engine cuts or refuses orders beyond them (loosen them with "
        "NZEZA_RISK__MAX_POSITION_NOTIONAL / NZEZA_RISK__MAX_ORDER_NOTIONAL; the loosening is "
        "recorded in the ledger)"
    )


def _default_symbol(strategy: Any) -> str:
    from nzeza.engine.portfolio_runner import DEFAULT_SYMBOLS
    from nzeza.strategies import is_portfolio

    return DEFAULT_SYMBOLS if is_portfolio(strategy) else "BTCUSDT"


async def run_session(args: argparse.Namespace) -> int:
    """`nzeza paper|live` — check the gates, build the parts, run, print the summary."""
    from nzeza.engine.runner import open_session
    from nzeza.engine.session import install_signal_handlers
    from nzeza.ops.settings import load_settings
    from nzeza.promotion.live_check import check_plan
    from nzeza.strategies import is_portfolio

    overrides = {"live_confirm": args.confirm} if getattr(args, "confirm", None) else {}
    settings = load_settings(require_live=False, **overrides)
    plan = plan_from(args, settings)
    if is_portfolio(plan.strategy):
        if plan.perp is not None:
            from nzeza.errors import ValidationError

            raise ValidationError("--perp", args.perp, "portfolio sessions trade spot symbols")
        return await run_portfolio_session(plan, settings, getattr(args, "html", None))
    html = getattr(args, "html", None)
    if html and plan.perp is None:
        from nzeza.errors import ValidationError

        raise ValidationError(
            "--html",
            args.html,
            "the session report is written for portfolio and perpetual (--perp) sessions",
        )
    if "," in plan.symbol:
        from nzeza.errors import ValidationError

        raise ValidationError(
            "--symbol", plan.symbol, "a single-symbol strategy trades one symbol, e.g. BTCUSDT"
        )
    async with open_session(plan, settings, live_check=check_plan) as opened:
        session = opened.session
        sid = session.cfg.session_id
        if opened.server_url is not None:
            url = opened.server_url
            print(f"metrics and health on {url}/metrics and {url}/healthz")
        install_signal_handlers(session)
        if plan.perp is not None and "funding" not in opened.feed_name:
            print(
                f"note: {opened.feed_name} has no funding stream (--funding-feed URL names one): "
                "this perpetual session books no funding",
                flush=True,
            )
        note = leverage_note(plan.perp, settings.risk)
        if note is not None:
            print(note, flush=True)
        state = "resuming" if session.report.resumed else "starting"
        print(
            f"{state} {args.mode} session {sid}: {plan.strategy_name} {plan.params} on "
            f"{opened.feed_name} ({args.timeframe} bars, open orders at stop: {opened.on_stop}); "
            f"log {opened.log_file}",
            flush=True,
        )
        try:
            report = await session.run(opened.trades)
        except Exception as exc:  # recorded as failed by the session; said once, plainly
            from nzeza.cli import os_error

            what = os_error(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            print(
                f"nzeza: error: session {sid} failed: {clip(what, 300)}"
                f" (recorded as failed; resume it with --session-id {sid})",
                file=sys.stderr,
                flush=True,
            )
            return 1
        if html:
            print(f"report written to {perp_session_report(session.ledger, sid, html)}")
    equity = "n/a" if report.final_equity is None else f"{report.final_equity:.6f}"
    orders = ""
    if report.canceled_orders or report.kept_orders:
        orders = f", open orders canceled {len(report.canceled_orders)}"
        orders += f" kept {len(report.kept_orders)}"
    print(
        f"session {sid} {report.stopped_by}: {report.bars} bars, {report.fills} fills "
        f"({report.reconciled_fills} reconciled, {report.resubmitted} resubmitted), "
        f"equity {equity}{orders}",
        flush=True,
    )
    if plan.perp is not None:
        print(
            f"perpetual ({plan.perp.venue}, {plan.perp.leverage}×): {report.funding_payments} "
            "funding payments booked by this run (nzeza status: paid and received)",
            flush=True,
        )
        if report.funding_from_venue or report.funding_mismatches:
            print(
                f"funding reconciled with the venue: {report.funding_from_venue} booked from "
                f"the venue, {report.funding_mismatches} mismatched (nzeza status lists them)",
                flush=True,
            )
    return 0


def perp_session_report(ledger: Any, session_id: str, path: str) -> Any:
    """The HTML report of a perpetual session from the ledger: funding paid and received,
    liquidations and margin usage (`nzeza.notebook.perp_report`)."""
    from nzeza.notebook.perp_report import perp_session_frames
    from nzeza.notebook.report import Report

    frames = perp_session_frames(ledger, session_id)
    rep = Report(f"perpetual session {session_id}")
    if frames is None:
        rep.text("not a perpetual session: no funding or margin to show")
    else:
        rep.perp_session(frames)
    return rep.write(path)


async def run_portfolio_session(plan: SessionPlan, settings: Any, html: str | None = None) -> int:
    """`nzeza paper|live PORTFOLIO_STRATEGY --symbol A,B`: one session over every symbol (live:
    after every live gate, `nzeza.promotion.live_check.check_plan`)."""
    from nzeza.engine.portfolio_runner import open_portfolio_session
    from nzeza.engine.session import install_signal_handlers
    from nzeza.promotion.live_check import check_plan

    async with open_portfolio_session(plan, settings, live_check=check_plan) as opened:
        session = opened.session
        sid = session.cfg.session_id
        if opened.server_url is not None:
            url = opened.server_url
            print(f"metrics and health on {url}/metrics and {url}/healthz", flush=True)
        install_signal_handlers(session)
        state = "resuming" if session.report.resumed else "starting"
        multi = session.cfg.multi_venue  # several venues: each its own cash account
        names = [i.id for i in session.cfg.instruments.values()] if multi else opened.symbols
        print(
            f"{state} {plan.mode} portfolio session {sid}: {plan.strategy_name} {plan.params} on "
            f"{', '.join(names)} from {opened.feed_name} ({plan.timeframe} bars, "
            f"{'cash per venue' if multi else 'shared cash'}); log {opened.log_file}",
            flush=True,
        )
        try:
            report = await session.run(opened.trades)
        except Exception as exc:
            print(
                f"nzeza: error: session {sid} failed: {clip(f'{type(exc).__name__}: {exc}', 300)}"
                f" (recorded as failed; resume it with --session-id {sid})",
                file=sys.stderr,
                flush=True,
            )
            return 1
        if html:
            from nzeza.notebook.portfolio_report import session_frames
            from nzeza.notebook.report import Report

            rep = Report(f"{plan.strategy_name}: {plan.mode} portfolio session {sid}")
            rep.text(f"{plan.strategy_name} {plan.params} on {', '.join(opened.symbols)}")
            rep.portfolio(session_frames(session.ledger, sid))
            print(f"report written to {rep.write(html)}", flush=True)
        snap = session.portfolio.snapshot()
        held = ", ".join(
            f"{sym} {snap.position(inst.id).quantity.normalize():f}"
            for sym, inst in session.cfg.instruments.items()
        )
    equity = "n/a" if report.final_equity is None else f"{report.final_equity:.6f}"
    print(
        f"session {sid} {report.stopped_by}: {report.bars} bars, {report.fills} fills "
        f"({report.reconciled_fills} reconciled, {report.resubmitted} resubmitted, "
        f"{report.rejected} refused and {report.amended} clipped by risk), positions {held}, "
        f"equity {equity}",
        flush=True,
    )
    return 0


__all__ = [
    "leverage_note",
    "perp_session_report",
    "plan_from",
    "run_portfolio_session",
    "run_session",
]
