"""`nzeza paper`, `nzeza live`, `nzeza replay`, `nzeza parity`: sessions of the one engine."""

from __future__ import annotations

import argparse

from nzeza.cli.args import data_options, maker_taker_options, order_options


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strategy",
        required=True,
        help="a registered strategy name (nzeza strategies) or module:Class",
    )
    p.add_argument("--params", nargs="*", default=[], metavar="K=V", help="strategy parameters")
    p.add_argument("--fee", type=float, default=0.001, help="fee as a fraction (0.001 = 10 bps)")
    maker_taker_options(p)
    p.add_argument("--slippage", type=float, default=0.0005, help="slippage as a fraction")
    p.add_argument(
        "--cash",
        type=float,
        default=None,
        help="initial cash in the quote currency (paper and replay; default 10000; live sizes "
        "from the account)",
    )


def _vol_targeting(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--vol-target",
        type=float,
        default=None,
        metavar="VOL",
        help="scale targets to this annualised volatility (0.5 = 50%%; default: off)",
    )
    p.add_argument("--vol-lookback", type=int, default=168, help="bars in the volatility estimate")


def register(sub: argparse._SubParsersAction) -> None:
    for mode in ("paper", "live"):
        live = mode == "live"
        p = sub.add_parser(
            mode,
            help=f"run a {mode} session"
            + (
                " (needs confirmation, credentials, TLS endpoints and a live promotion)"
                if live
                else ""
            ),
        )
        _common(p)
        p.add_argument(
            "--feed",
            default=None,
            help=(
                "the live venue's own trade stream (the default; nothing else is allowed)"
                if live
                else "capture:NAME (bundled, the default: capture:binance_btcusdt), "
                "replay:FILE[,FILE...] (a recorded capture), ws://HOST:PORT (a replay server) "
                "or a venue name, e.g. binance (its public trade stream at "
                "NZEZA_BINANCE__WS_URL, default the production endpoint)"
            ),
        )
        p.add_argument("--symbol", default="BTCUSDT")
        p.add_argument("--timeframe", default="5s", help="bar timeframe, e.g. 1s, 5s, 1m, 1h")
        p.add_argument("--session-id", default=None, help="same id on restart = resume")
        p.add_argument("--ledger", default=None, help="ledger URL (default: settings)")
        p.add_argument(
            "--on-stop",
            choices=("cancel", "keep"),
            default=None,
            help="this session's open orders at a graceful stop (SIGTERM/SIGINT/kill switch): "
            "cancel them or keep them working (default: NZEZA_OPEN_ORDERS_ON_STOP, cancel)",
        )
        if live:
            p.add_argument(
                "--confirm",
                default=None,
                metavar="TEXT",
                help="the explicit confirmation I_UNDERSTAND_THIS_TRADES_REAL_MONEY "
                "(or NZEZA_LIVE_CONFIRM)",
            )
        else:
            p.add_argument(
                "--venue-db",
                default=None,
                help="the paper exchange's own state file (default: runs/paper-venue.sqlite)",
            )
        _vol_targeting(p)
        order_options(p)
        p.add_argument("--pace", type=float, default=0.0, help="seconds to sleep between trades")
        p.add_argument(
            "--metrics-port",
            type=int,
            default=None,
            help="serve /metrics and /healthz on 127.0.0.1:PORT (default: NZEZA_METRICS_PORT "
            "if set, else none)",
        )
        p.set_defaults(handler=_run_session, mode=mode)

    r = sub.add_parser("replay", help="replay historical bars through the full engine")
    _common(r)
    data_options(r)
    r.add_argument("--ledger", default=None, help="write the session to this ledger URL")
    r.add_argument("--windowed", action="store_true", help="trailing window at every bar")
    r.add_argument("--timeframe", default="1h", help="the sample's bar timeframe")
    _vol_targeting(r)
    order_options(r)
    r.set_defaults(handler=_replay)

    q = sub.add_parser("parity", help="engine replay vs research backtest, side by side")
    q.add_argument("strategy")
    q.add_argument("--params", nargs="*", default=[], metavar="K=V")
    data_options(q)
    q.add_argument("--bars", type=int, default=None, help="only the last N bars")
    q.add_argument("--windowed", action="store_true")
    q.add_argument("--fee", type=float, default=0.001)
    maker_taker_options(q)
    q.add_argument("--slippage", type=float, default=0.0005)
    q.add_argument("--show", type=int, default=5, help="trades to print side by side")
    order_options(q)
    q.set_defaults(handler=_parity)


def _run_session(args: argparse.Namespace) -> int:
    import asyncio

    from nzeza.cli.args import session_flags
    from nzeza.cli.run import run_session

    session_flags(args)  # every flag checked before anything is opened or written
    return asyncio.run(run_session(args))


def _replay(args: argparse.Namespace) -> int:
    from nzeza.cli.args import (
        bars_label,
        costs_from,
        load_bars,
        order_policy_from,
        replay_flags,
        vol_targeting_from,
    )
    from nzeza.engine import replay
    from nzeza.engine.runner import resolve_strategy
    from nzeza.store import open_ledger

    args.cash = 10_000.0 if args.cash is None else args.cash
    replay_flags(args)
    orders = order_policy_from(args)
    strategy, name, params = resolve_strategy(args.strategy, args.params)
    bars = load_bars(args)
    ledger = open_ledger(args.ledger) if args.ledger else None
    result = replay(
        strategy,
        bars,
        costs_from(args),
        args.cash,
        ledger=ledger,
        windowed=args.windowed,
        progress=True,
        vol_targeting=vol_targeting_from(args),
        orders=orders,
    )
    print(
        f"{name} {params} on {bars_label(bars)}: {len(bars):,} bars, {len(result.fills)} fills, "
        f"{len(result.closed_trades)} closed trades, final equity {result.final_equity:,.2f}"
    )
    if ledger is not None:
        print(f"session {result.session_id} written to the ledger")
        ledger.close()
    return 0


def _parity(args: argparse.Namespace) -> int:
    from nzeza.cli.args import costs_from, load_bars, order_policy_from
    from nzeza.engine.parity import compare
    from nzeza.engine.runner import resolve_strategy

    strategy, _, _ = resolve_strategy(args.strategy, args.params)
    bars = load_bars(args, last=args.bars or None, flag="--bars")
    orders = order_policy_from(args)
    report = compare(strategy, bars, costs_from(args), windowed=args.windowed, orders=orders)
    print(report)
    if report.table is not None and args.show:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(report.table.head(args.show).to_string())
    return 0 if report.ok else 1


__all__ = [
    "register",
]
