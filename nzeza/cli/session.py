"""`nzeza paper`, `nzeza live`, `nzeza replay`, `nzeza parity`: sessions of the one engine."""

from __future__ import annotations

import argparse
import time
from typing import Any

from nzeza.cli.args import Given, data_options, maker_taker_options, order_options
from nzeza.errors import ValidationError


def _common(p: argparse.ArgumentParser, positional: bool = False) -> None:
    if positional:  # `nzeza replay NAME ...` as `nzeza backtest NAME ...`; --strategy still works
        p.add_argument("strategy_name", nargs="?", default=None, metavar="STRATEGY")
    p.add_argument(
        "--strategy",
        required=not positional,
        default=None,
        help="a registered strategy name (nzeza strategies) or module:Class",
    )
    p.add_argument("--params", nargs="*", default=[], metavar="K=V", help="strategy parameters")
    p.add_argument(
        "--fee", action=Given, type=float, default=0.001, help="fee as a fraction (0.001 = 10 bps)"
    )
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
        _common(p, positional=True)
        p.add_argument(
            "--feed",
            default=None,
            help=(
                "the live venue's own trade stream (the default; nothing else is allowed)"
                if live
                else "capture:NAME (bundled, the default: capture:binance_btcusdt), "
                "replay:FILE[,FILE...] (a recorded capture), ws://HOST:PORT (a replay server) "
                "or a venue name, e.g. binance (its public trade stream at "
                "NZEZA_BINANCE__WS_URL, default the production endpoint); a portfolio "
                "strategy: ws://HOST:PORT (one replay server with every symbol), or "
                "capture:NAME,NAME / replay:FILE,FILE with one per symbol (default "
                "capture:binance_btcusdt,binance_ethusdt)"
            ),
        )
        p.add_argument(
            "--symbol",
            default=None,
            help="the symbol (default BTCUSDT); a portfolio strategy: its symbols, "
            "comma-separated (default BTCUSDT,ETHUSDT)",
        )
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
        from nzeza.cli.args import session_perp_options

        session_perp_options(p)
        p.add_argument(
            "--html",
            default=None,
            metavar="PATH",
            help="a portfolio strategy: write the session's HTML report (portfolio and "
            "per-symbol equity and exposure) at the end; with --perp: funding paid and "
            "received, liquidations and margin usage",
        )
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

    r = sub.add_parser(
        "replay",
        help="replay historical bars through the full engine (a portfolio strategy: every "
        "symbol of the panel, shared cash)",
    )
    _common(r, positional=True)
    data_options(r)
    r.add_argument("--ledger", default=None, help="write the session to this ledger URL")
    r.add_argument("--windowed", action="store_true", help="trailing window at every bar")
    r.add_argument(
        "--html",
        default=None,
        metavar="PATH",
        help="a portfolio strategy: write an HTML report (portfolio and per-symbol equity and "
        "exposure)",
    )
    r.add_argument(
        "--risk",
        action="store_true",
        help="a portfolio strategy: judge every order by the sessions' risk limits "
        "(NZEZA_RISK__*; off by default in replay, as research parity runs without)",
    )
    r.add_argument("--timeframe", default="1h", help="the sample's bar timeframe")
    _vol_targeting(r)
    order_options(r)
    from nzeza.cli.args import perp_options

    perp_options(r)
    r.set_defaults(handler=_replay)

    q = sub.add_parser("parity", help="engine replay vs research backtest, side by side")
    q.add_argument("strategy")
    q.add_argument("--params", nargs="*", default=[], metavar="K=V")
    data_options(q)
    q.add_argument("--bars", type=int, default=None, help="only the last N bars")
    q.add_argument("--windowed", action="store_true")
    q.add_argument("--fee", action=Given, type=float, default=0.001)
    maker_taker_options(q)
    q.add_argument("--slippage", type=float, default=0.0005)
    q.add_argument("--show", type=int, default=5, help="trades to print side by side")
    order_options(q)
    from nzeza.cli.args import perp_options as parity_perp

    parity_perp(q)  # backtest_perp vs the engine's perpetual replay, funding amounts included
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
        perp_spec,
        replay_flags,
        strategy_arg,
        vol_targeting_from,
    )
    from nzeza.engine import replay
    from nzeza.engine.runner import resolve_strategy
    from nzeza.store import open_ledger
    from nzeza.strategies import is_portfolio

    args.cash = 10_000.0 if args.cash is None else args.cash
    replay_flags(args)
    orders = order_policy_from(args)
    spec = perp_spec(args)  # None without --perp
    strategy, name, params = resolve_strategy(strategy_arg(args), args.params)
    if is_portfolio(strategy):
        if orders is not None:
            raise ValidationError("--order-type", args.order_type, "portfolios trade market orders")
        if spec is not None:
            raise ValidationError("--perp", args.perp, "portfolio replays trade spot bars")
        return _replay_portfolio(args, strategy, name, params)
    for flag, given in (("--risk", args.risk), ("--html", args.html)):
        if given:
            raise ValidationError(flag, given, "applies to portfolio strategies only")
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
        perp=spec,
        leverage=args.leverage if spec is not None else 1,
        funding=args.funding_rates,
    )
    print(
        f"{name} {params} on {bars_label(bars)}: {len(bars):,} bars, {len(result.fills)} fills, "
        f"{len(result.closed_trades)} closed trades, final equity {result.final_equity:,.2f}"
    )
    if spec is not None and result.funding is not None:
        amounts = result.funding["amount"]
        paid, received = -amounts[amounts < 0].sum(), amounts[amounts > 0].sum()
        print(
            f"perpetual ({spec.venue}, {args.leverage:g}×): {len(amounts)} funding payments, "
            f"paid {paid:,.2f}, received {received:,.2f} {spec.quote}; "
            f"liquidations: {len(result.liquidations)}"
        )
    if ledger is not None:
        print(f"session {result.session_id} written to the ledger")
        ledger.close()
    return 0


def _replay_portfolio(args: argparse.Namespace, strategy: object, name: str, params: dict) -> int:
    """A portfolio strategy on every symbol of the panel: one session, shared cash."""
    from nzeza.cli.args import bars_label, costs_from, load_panel_bars
    from nzeza.engine.portfolio_replay import replay_portfolio
    from nzeza.errors import ValidationError
    from nzeza.store import open_ledger

    if args.vol_target is not None:
        raise ValidationError(
            "--vol-target", args.vol_target, "applies to single-symbol strategies only"
        )
    panel = load_panel_bars(args)
    risk = None
    if args.risk:
        from nzeza.ops.settings import load_settings

        risk = load_settings(require_live=False).risk
    ledger = open_ledger(args.ledger) if args.ledger else None
    try:
        result = replay_portfolio(
            strategy,
            panel,
            costs_from(args),
            args.cash,
            ledger=ledger,
            windowed=args.windowed,
            progress=True,
            risk=risk,
        )
    finally:
        if ledger is not None:
            ledger.close()
    symbols = ", ".join(result.symbols)
    print(
        f"{name} {params} on {bars_label(panel)} ({symbols}; portfolio, shared cash): "
        f"{len(panel):,} bars, {len(result.fills)} fills, final equity {result.final_equity:,.2f}"
    )
    last = result.positions.iloc[-1]
    for sym in result.symbols:
        orders = int((result.orders["symbol"] == sym).sum())
        exposure = float(result.exposure[sym].iloc[-1])
        print(f"  {sym:>8}: {orders:4d} orders, position {last[sym]:.8g}, exposure {exposure:+.3f}")
    if risk is not None:
        print(f"risk: {len(result.refused)} order(s) clipped or refused")
        for row in result.refused[:10]:
            print(f"  {row['time']} {row['symbol']} {row['side']} {row['asked']:.8g} → "
                  f"{row['allowed']:.8g}: {row['reason']}")  # fmt: skip
    if ledger is not None:
        print(f"session {result.session_id} written to the ledger")
    if args.html:
        from nzeza.notebook.portfolio_report import replay_frames
        from nzeza.notebook.report import Report

        rep = Report(f"{name}: portfolio replay on {bars_label(panel)}")
        rep.text(f"{name} {params}; {len(panel):,} bars of {symbols}; shared cash {args.cash:,.2f}")
        rep.portfolio(replay_frames(result, title=f"{name} replay"))
        print(f"report written to {rep.write(args.html)}")
    return 0


# a strategy call slower than this (µs) on a session's window gets the fast-indicators hint
SLOW_CALL_US = 150.0


class CallTimer:
    """Counts and times the calls of one method of one object while in use (an instance
    attribute over the class's method, removed on exit: the class, its identity and its
    parameters are untouched)."""

    def __init__(self, obj: Any, name: str) -> None:
        self.obj, self.name = obj, name
        self.calls, self.seconds = 0, 0.0
        self._own = vars(obj).get(name) if hasattr(obj, "__dict__") else None
        self._installed = False

    def __enter__(self) -> CallTimer:
        inner = getattr(self.obj, self.name, None)
        if inner is None:
            return self

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1

        try:
            setattr(self.obj, self.name, timed)
            self._installed = True
        except (AttributeError, TypeError):  # slots or a frozen object: not timed
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._installed:
            return
        if self._own is not None:
            setattr(self.obj, self.name, self._own)
        else:
            delattr(self.obj, self.name)


def _parity(args: argparse.Namespace) -> int:
    from nzeza.cli.args import costs_from, order_policy_from
    from nzeza.engine.runner import resolve_strategy
    from nzeza.strategies import is_portfolio

    strategy, _, _ = resolve_strategy(args.strategy, args.params)
    costs = costs_from(args)
    orders = order_policy_from(args)
    from nzeza.cli.args import perp_spec

    spec = perp_spec(args)  # None without --perp
    perp = None
    if spec is not None:
        if is_portfolio(strategy):
            raise ValidationError("--perp", args.perp, "portfolio parity runs spot bars")
        if orders is not None and not orders.is_market:
            raise ValidationError("--order-type", orders.kind, "perpetuals trade market orders")
        from nzeza.research.perp import PerpSetup

        perp = PerpSetup(spec, args.leverage, args.funding_rates)
    if is_portfolio(strategy) and orders is not None:
        raise ValidationError(
            "--order-type", args.order_type, "portfolio parity runs market orders only"
        )
    timer = CallTimer(strategy, "target_weights" if is_portfolio(strategy) else "target")
    started = time.perf_counter()
    with timer:
        report = _run_parity(args, strategy, costs, orders, perp)
    elapsed = time.perf_counter() - started
    print(report)
    if args.windowed:  # the promotion gate's check: how long it took, and the strategy's share
        line = f"  windowed: {report.bars:,} bars in {elapsed:.2f} s"
        per_call = timer.seconds / timer.calls * 1e6 if timer.calls else 0.0
        if timer.calls:
            line += (
                f"; the strategy's {timer.name}: {timer.calls:,} calls, {timer.seconds:.2f} s "
                f"({per_call:,.0f} µs a call)"
            )
        print(line)
        if per_call > SLOW_CALL_US:
            print(
                "  a call that slow is usually pandas' overhead per operation on a small window: "
                "nzeza.strategies.indicators runs pandas' rolling kernels without it "
                "(docs/strategies.md#fast-indicators)"
            )
    if report.table is not None and args.show:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(report.table.head(args.show).to_string())
    return 0 if report.ok else 1


def _run_parity(args: argparse.Namespace, strategy: Any, costs: Any, orders: Any, perp: Any) -> Any:
    from nzeza.cli.args import load_bars, load_panel_bars
    from nzeza.engine.parity import compare
    from nzeza.engine.portfolio_parity import compare_portfolio
    from nzeza.strategies import is_portfolio

    if is_portfolio(strategy):
        panel = load_panel_bars(args, last=args.bars or None, flag="--bars")
        return compare_portfolio(strategy, panel, costs, windowed=args.windowed)
    bars = load_bars(args, last=args.bars or None, flag="--bars")
    return compare(strategy, bars, costs, windowed=args.windowed, orders=orders, perp=perp)


__all__ = [
    "register",
]
