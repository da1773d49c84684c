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

    from nzeza.cli.args import costs_from, metrics_port, order_policy_from, vol_targeting_from
    from nzeza.engine.runner import SessionPlan, resolve_strategy

    strategy, name, params = resolve_strategy(args.strategy, args.params)
    return SessionPlan(
        mode=args.mode,
        strategy=strategy,
        strategy_name=name,
        params=params,
        costs=costs_from(args),
        timeframe=args.timeframe,
        symbol=args.symbol,
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
    )


async def run_session(args: argparse.Namespace) -> int:
    """`nzeza paper|live` — check the gates, build the parts, run, print the summary."""
    from nzeza.engine.runner import open_session
    from nzeza.engine.session import install_signal_handlers
    from nzeza.ops.settings import load_settings
    from nzeza.promotion.live_check import check_plan

    overrides = {"live_confirm": args.confirm} if getattr(args, "confirm", None) else {}
    settings = load_settings(require_live=False, **overrides)
    plan = plan_from(args, settings)
    async with open_session(plan, settings, live_check=check_plan) as opened:
        session = opened.session
        sid = session.cfg.session_id
        if opened.server_url is not None:
            url = opened.server_url
            print(f"metrics and health on {url}/metrics and {url}/healthz")
        install_signal_handlers(session)
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
    return 0


__all__ = [
    "plan_from",
    "run_session",
]
