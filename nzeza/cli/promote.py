"""`nzeza promote NOTEBOOK --to paper|live`: check the gates, record the decision."""

from __future__ import annotations

import argparse

from nzeza.cli.args import data_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote",
        help="check the promotion gates for a notebook's strategy and record the decision",
        description=(
            "Gates for paper: verdict SCALE in the ledger for this strategy identity (class path + "
            "source hash) and parameters, lookahead check, "
            "parity between research and replay. For live, also: a paper session of at least "
            "--min-paper-bars bars with no breaker trip and tracking error within "
            "--max-tracking-error. Exit 0 only when every gate passes."
        ),
    )
    p.add_argument("notebook", help="the notebook being promoted (its parameters cell is read)")
    p.add_argument("--to", dest="target", required=True, choices=("paper", "live"))
    p.add_argument("--strategy", default=None, help="override the notebook's `strategy`")
    p.add_argument(
        "--params", nargs="*", default=[], metavar="K=V", help="override strategy parameters"
    )
    data_options(p)  # --sample NAME | --data PATH|ccxt:...: the bars of lookahead and parity
    p.add_argument("--bars", type=int, default=24 * 365, help="the last N bars of the data")
    p.add_argument("--fee", type=float, default=0.001)
    p.add_argument("--slippage", type=float, default=0.0005)
    # verdicts are evidence only as ledger rows; the old folder option is refused, loudly
    p.add_argument("--verdicts", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ledger", default=None, help="ledger URL (default: settings)")
    p.add_argument("--min-paper-bars", type=int, default=None)
    p.add_argument("--max-tracking-error", type=float, default=None)
    p.set_defaults(handler=_promote)


def _promote(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from nzeza.cli.args import load_bars
    from nzeza.domain import Costs
    from nzeza.engine.runner import parse_params
    from nzeza.errors import ValidationError
    from nzeza.notebook.gates import promote
    from nzeza.notebook.promotion import GatePolicy
    from nzeza.store import open_ledger

    if args.verdicts is not None:
        raise ValidationError(
            "--verdicts",
            args.verdicts,
            "verdicts are read from the ledger only (`nzeza validate` records them there; "
            "`--ledger URL` picks the ledger); a verdict file is not evidence",
        )
    policy = GatePolicy()
    if args.min_paper_bars is not None:
        policy = replace(policy, min_paper_bars=args.min_paper_bars)
    if args.max_tracking_error is not None:
        policy = replace(policy, max_tracking_error=args.max_tracking_error)
    bars = load_bars(args, last=args.bars, flag="--bars")
    with open_ledger(args.ledger) as ledger:
        decision = promote(
            args.notebook,
            args.target,
            strategy=args.strategy,
            params=parse_params(args.params),
            ledger=ledger,
            bars=bars,
            costs=Costs(args.fee, args.slippage),
            policy=policy,
            progress=True,
        )
    print(decision)
    print(f"recorded as promotion #{decision.record_id} (nzeza promotions)")
    return 0 if decision.passed else 1
