"""`nzeza status`, `nzeza audit verify|anchor`, `nzeza promotions`: reading the ledger."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="sessions, positions and PnL from the ledger")
    p.add_argument("--session", default=None, help="one session id (default: all)")
    p.add_argument("--ledger", default=None, help="ledger URL (default: settings)")
    p.set_defaults(handler=_status)

    a = sub.add_parser("audit", help="the ledger's keyed audit chain over every row")
    acts = a.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = acts.add_parser(
        "verify",
        help="check the keyed chain, every covered row and the anchor; non-zero exit if not",
    )
    v.add_argument("--ledger", default=None)
    v.set_defaults(handler=_audit_verify)
    an = acts.add_parser(
        "anchor",
        help="record the chain's current head as its anchor (a missing or stale anchor), "
        "after checking the chain and every row",
    )
    an.add_argument("--ledger", default=None)
    an.set_defaults(handler=_audit_anchor)

    pr = sub.add_parser("promotions", help="list promotion records")
    pr.add_argument("--strategy", default=None)
    pr.add_argument("--ledger", default=None)
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(handler=_promotions)


def _status(args: argparse.Namespace) -> int:
    from nzeza.store import open_ledger

    with open_ledger(args.ledger) as ledger:
        rows = ledger.sessions()
        if args.session:
            rows = [r for r in rows if r["session_id"] == args.session]
            if not rows:
                print(f"no session {args.session!r} in the ledger")
                return 1
        if not rows:
            print("no sessions in the ledger yet")
            return 0
        for row in rows:
            sid = row["session_id"]
            fills = ledger.fills(sid)
            curve = ledger.equity_curve(sid)
            equity = f"{curve[-1][1]:.2f}" if curve else "n/a"
            print(
                f"{sid}  {row['mode']:6s} {row['status']:8s} {row['strategy']} "
                f"{row['params']}  fills={len(fills)} equity={equity} {row['currency']}"
            )
            for inst, pos in ledger.positions(sid).items():
                if pos["quantity"] != 0:
                    print(
                        f"    {inst}: qty {pos['quantity']} @ {pos['avg_entry_price']:.2f} "
                        f"realized {pos['realized_pnl']:.2f}"
                    )
            open_orders = ledger.orders(sid, open_only=True)
            if open_orders:
                print(f"    open orders: {len(open_orders)}")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from nzeza.store import open_ledger

    with open_ledger(args.ledger) as ledger:
        report = ledger.verify_audit()
    print(report)
    print(f"({report.covered_rows + report.rows} rows checked in {report.seconds:.2f} s)")
    return 0 if report.ok else 1


def _audit_anchor(args: argparse.Namespace) -> int:
    from nzeza.store import open_ledger

    with open_ledger(args.ledger) as ledger:
        report = ledger.reanchor()
    if not report.ok:
        print("not anchored: the chain or its rows do not verify")
    print(report)
    return 0 if report.ok else 1


def _promotions(args: argparse.Namespace) -> int:
    from nzeza.store import open_ledger

    with open_ledger(args.ledger) as ledger:
        rows = ledger.promotions(strategy=args.strategy)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no promotion records")
    for r in rows:
        verdict = "PASSED" if r["passed"] else "refused"
        gates = json.loads(r["gates"])
        failed = [g for g, v in gates.items() if not v.get("passed")]
        extra = f" (failed: {', '.join(failed)})" if failed else ""
        print(f"#{r['id']} {r['strategy']} {r['params']} → {r['target']}: {verdict}{extra}")
    return 0
