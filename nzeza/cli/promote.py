"""`nzeza promote NOTEBOOK --to paper|live`: check the gates, record the decision and the run it
binds; `nzeza divergence SESSION`: a session against research on the same bars."""

from __future__ import annotations

import argparse

from nzeza.cli.args import Given, data_options, maker_taker_options

# gate thresholds a flag may tighten (never loosen): flag dest → policy field
THRESHOLD_FLAGS = (
    "min_paper_bars",
    "min_paper_days",
    "max_tracking_error",
    "max_excess_slippage_bps",
    "max_trade_mismatch",
    "max_pbo",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote",
        help="check the promotion gates for a notebook's strategy and record the decision",
        description=(
            "Gates for paper: verdict SCALE in the ledger for this strategy identity (class path "
            "+ source hash) and parameters, with PBO at most max_pbo and on the timeframe "
            "promoted; lookahead check; parity between research and replay. For live, also: a "
            "paper session of this run on the verdict's timeframe for min_paper_bars bars (or "
            "min_paper_days days), no breaker trip, and close to the research backtest of the "
            "same bars (tracking error, slippage, trades, Sharpe vs the CPCV 5%% quantile). "
            "Thresholds come from settings (NZEZA_GATES__*, floors enforced); the flags below "
            "may only tighten them. The promotion binds the whole run: strategy identity, "
            "parameters, symbol, venue, timeframe, costs, sizing, risk settings. Exit 0 only "
            "when every gate passes."
        ),
    )
    p.add_argument("notebook", help="the notebook being promoted (its parameters cell is read)")
    p.add_argument("--to", dest="target", required=True, choices=("paper", "live"))
    p.add_argument("--strategy", default=None, help="override the notebook's `strategy`")
    p.add_argument(
        "--params", nargs="*", default=[], metavar="K=V", help="override strategy parameters"
    )
    # --sample NAME | --data PATH|ccxt:...: the bars of lookahead and parity
    data_options(p, symbol=False)
    p.add_argument("--bars", type=int, default=24 * 365, help="the last N bars of the data")
    p.add_argument("--fee", action=Given, type=float, default=0.001)
    maker_taker_options(p)
    p.add_argument("--slippage", type=float, default=0.0005)
    p.add_argument("--symbol", default="BTCUSDT", help="the symbol the run trades")
    p.add_argument(
        "--timeframe", default=None, help="the run's bar timeframe (default: the verdict's)"
    )
    p.add_argument(
        "--venue",
        default=None,
        help="live: the venue the run trades on (default NZEZA_LIVE_VENUE); paper: paper",
    )
    p.add_argument("--cash", type=float, default=10_000.0, help="paper: the starting cash")
    p.add_argument("--vol-target", type=float, default=None, metavar="VOL")
    p.add_argument("--vol-lookback", type=int, default=168)
    # verdicts are evidence only as ledger rows; the old folder option is refused, loudly
    p.add_argument("--verdicts", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ledger", default=None, help="ledger URL (default: settings)")
    from nzeza.cli.args import perp_options

    perp_options(p)  # a perpetual run: its terms are bound, its parity includes funding
    for name in THRESHOLD_FLAGS:
        kind = int if name == "min_paper_bars" else float
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help="tighten this gate threshold (settings: NZEZA_GATES__" + name.upper() + ")",
        )
    p.set_defaults(handler=_promote)

    d = sub.add_parser(
        "divergence",
        help="a recorded session against the research backtest of the same bars",
        description=(
            "Rebuild the bars a paper or live session saw from its recorded feed, backtest the "
            "strategy on them under the research costs, and attribute the gap: slippage, fees, "
            "latency, missed or extra trades."
        ),
    )
    d.add_argument("session", help="the session id")
    d.add_argument("--ledger", default=None, help="ledger URL (default: settings)")
    d.add_argument(
        "--fee", action=Given, type=float, default=None, help="research fee (default: recorded)"
    )
    d.add_argument(
        "--slippage", type=float, default=None, help="research slippage (default: recorded)"
    )
    maker_taker_options(d)
    d.add_argument(
        "--params",
        nargs="*",
        default=None,
        metavar="KEY=VALUE",
        help="the strategy's construction parameters (default: the recorded ones)",
    )
    d.add_argument("--fills", type=int, default=0, help="show the first N fills")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(handler=_divergence)


def _promote(args: argparse.Namespace) -> int:
    from nzeza.cli.args import (
        common_costs,
        costs_from,
        load_bars,
        load_panel_bars,
        vol_flags,
        vol_targeting_from,
    )
    from nzeza.engine.runner import parse_params
    from nzeza.errors import ValidationError
    from nzeza.ops.settings import load_settings
    from nzeza.promotion import policy_from, promote
    from nzeza.store import open_ledger

    if args.verdicts is not None:
        raise ValidationError(
            "--verdicts",
            args.verdicts,
            "verdicts are read from the ledger only (`nzeza validate` records them there; "
            "`--ledger URL` picks the ledger); a verdict file is not evidence",
        )
    common_costs(args)
    vol_flags(args)
    from nzeza.cli.args import perp_spec

    spec = perp_spec(args)  # None without --perp
    perp = None
    if spec is not None:
        from nzeza.research.perp import PerpSetup

        perp = PerpSetup(spec, args.leverage, args.funding_rates)
    settings = load_settings(require_live=False)
    policy = policy_from(settings.gates, {n: getattr(args, n) for n in THRESHOLD_FLAGS})
    venue = args.venue or (settings.live_venue if args.target == "live" else "paper")
    if args.target == "live" and not venue:
        raise ValidationError(
            "--venue", venue, "a live promotion names its venue (--venue or NZEZA_LIVE_VENUE)"
        )
    if _portfolio(args):  # its gates run on every symbol of the panel
        bars = load_panel_bars(args, last=args.bars, flag="--bars")
    else:
        bars = load_bars(args, last=args.bars, flag="--bars")  # the bars of lookahead, parity
    with open_ledger(args.ledger) as ledger:
        timeframe = args.timeframe
        if args.vol_target is not None and timeframe is None:
            raise ValidationError("--timeframe", None, "--vol-target needs the run's timeframe")
        decision = promote(
            args.notebook,
            args.target,
            strategy=args.strategy,
            params=parse_params(args.params),
            ledger=ledger,
            bars=bars,
            costs=costs_from(args),
            policy=policy,
            progress=True,
            symbol=args.symbol,
            venue=venue,
            timeframe=timeframe,
            cash=args.cash,
            vol_targeting=vol_targeting_from(args) if timeframe else None,
            risk=settings.risk,
            perp=perp,
        )
    print(decision)
    if decision.divergence is not None:
        print(decision.divergence)
    print(f"recorded as promotion #{decision.record_id} (nzeza promotions)")
    return 0 if decision.passed else 1


def _portfolio(args: argparse.Namespace) -> bool:
    """Is the strategy promoted (--strategy, else the notebook's) a portfolio strategy?"""
    from nzeza.engine.runner import resolve_class
    from nzeza.promotion.gates import notebook_parameters
    from nzeza.strategies import is_portfolio

    name = args.strategy or notebook_parameters(args.notebook).get("strategy")
    return isinstance(name, str) and is_portfolio(resolve_class(name)[0])


def _divergence(args: argparse.Namespace) -> int:
    import json

    from nzeza.cli.args import finite, maker_taker_flags, venue_fees
    from nzeza.errors import ValidationError
    from nzeza.promotion.divergence import recorded_costs, session_config
    from nzeza.promotion.portfolio_divergence import session_divergence
    from nzeza.store import open_ledger

    maker_taker_flags(args)  # --fees/--maker-fee/--taker-fee checked before the ledger opens
    chosen = venue_fees(args)  # --fees VENUE: its schedule's rates, the recorded slippage
    fee = args.taker_fee if args.taker_fee is not None else args.fee
    maker = args.maker_fee
    if chosen is not None:
        fee, maker = chosen.fee, chosen.maker
    given = (fee, maker, args.slippage)
    with open_ledger(args.ledger) as ledger:
        costs = None
        if any(v is not None for v in given):
            _, cfg = session_config(ledger, args.session)
            costs = recorded_costs(
                cfg,
                None if fee is None else finite("--fee", fee, 0.0, 0.05),
                maker,
                None if args.slippage is None else finite("--slippage", args.slippage, 0.0, 0.05),
            )
        strategy = None
        if args.params is not None:  # rebuilt from the given parameters, not the recorded ones
            from nzeza.engine.runner import resolve_strategy

            row, cfg = session_config(ledger, args.session)
            family = str(cfg.get("family") or row["strategy"])
            try:
                strategy = resolve_strategy(family, args.params)[0]
            except TypeError as exc:
                raise ValidationError("--params", " ".join(args.params), str(exc)) from None
        report = session_divergence(ledger, args.session, costs=costs, strategy=strategy)
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True))
        return 0
    print(report)
    if args.fills and report.fill_table is not None and len(report.fill_table):
        import pandas as pd

        with pd.option_context("display.width", 180, "display.max_columns", 20):
            print(report.fill_table.head(args.fills).to_string())
    return 0


__all__ = [
    "THRESHOLD_FLAGS",
    "register",
]
