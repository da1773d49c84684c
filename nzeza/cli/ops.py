"""`nzeza status`, `nzeza audit verify|anchor`, `nzeza promotions`: reading the ledger."""

from __future__ import annotations

import argparse
import contextlib
import json
from decimal import Decimal
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="sessions, positions and PnL from the ledger")
    p.add_argument("--session", default=None, help="one session id (default: all)")
    p.add_argument("--ledger", default=None, help="ledger URL (default: settings)")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: state, reason, equity, orders, risk events, … (with --session; "
        'without, {"sessions": [...]})',
    )
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
    from nzeza.engine.lifecycle import check_session_id
    from nzeza.store import open_ledger
    from nzeza.store.status import session_status

    if args.session is not None:
        check_session_id(args.session, "--session")
    with open_ledger(args.ledger) as ledger:
        ids = [args.session] if args.session else [r["session_id"] for r in ledger.sessions()]
        docs = [d for d in (session_status(ledger, sid) for sid in ids) if d is not None]
    if args.session and not docs:
        if args.json:
            print(json.dumps({"error": f"no session {args.session!r} in the ledger"}))
        else:
            print(f"no session {args.session!r} in the ledger")
        return 1
    if args.json:
        print(json.dumps(docs[0] if args.session else {"sessions": docs}, indent=2))
        return 0
    if not docs:
        print(f"no sessions in the ledger yet ({_ledger_shown(args.ledger)})")
        demo = Path("runs/demo/ledger.sqlite")
        if args.ledger is None and demo.is_file():
            print(f"the demo's sessions: nzeza status --ledger sqlite:///{demo.resolve()}")
        return 0
    for doc in docs:
        print(_status_line(doc))
        funding = doc.get("funding") or {}
        if funding.get("payments") or doc.get("liquidations"):
            print(
                f"    perpetual: {funding.get('payments', 0)} funding payments, paid "
                f"{Decimal(funding.get('paid', 0)):.2f}, received "
                f"{Decimal(funding.get('received', 0)):.2f}; "
                f"liquidations {len(doc.get('liquidations') or [])}"
            )
        rec = doc.get("funding_reconciled") or {}
        if rec.get("checked"):
            print(
                f"    funding reconciled with the venue: {rec['checked']} funding times, "
                f"{rec['matched']} matched, {rec['booked_from_venue']} booked from the venue, "
                f"{rec['mismatched']} mismatched"
            )
            for m in rec.get("mismatches") or []:
                print(
                    f"      mismatch {m['instrument_id']} at {_ts(m['ts'])}: booked "
                    f"{m['booked'] or 'nothing'}, venue {m['venue'] or 'nothing'}"
                )
        for inst, pos in doc["positions"].items():
            if Decimal(pos["quantity"]) != 0:
                print(
                    f"    {inst}: qty {_qty(pos['quantity'])} @ "
                    f"{Decimal(pos['avg_entry_price']):,.2f} "
                    f"realized {Decimal(pos['realized_pnl']):.2f}"
                )
        working = [o for o in doc["orders"] if o["status"] in OPEN_STATUSES]
        if working:
            print(f"    open orders: {len(working)}")
        if doc["risk_events"]:
            print(f"    risk events: {len(doc['risk_events'])} (--json lists them)")
    return 0


OPEN_STATUSES = ("submitted", "accepted", "partially_filled")


def _ts(ns: int) -> str:
    """A UTC ns time as ISO text (seconds)."""
    import datetime as dt

    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _qty(value: str) -> str:
    """A position size for reading: at most 8 decimals, no trailing zeros (--json: exact)."""
    q = Decimal(value).quantize(Decimal("1e-8")).normalize()
    return f"{q:f}"


def _ledger_shown(url: str | None) -> str:
    from nzeza.secrets import mask_url

    if url is None:
        from nzeza.ops.settings import load_settings

        url = load_settings(require_live=False).effective_ledger_url
    return f"ledger {mask_url(url)}"


def _status_line(doc: dict) -> str:
    state = doc["state"]
    if state == "running" and doc["holder"] is None:
        state = "running (no process holds it: crashed? resume it with the same --session-id)"
    elif doc["holder"] is not None:
        state = f"{state} in {doc['holder']}"
    if doc["reason"] and doc["state"] != "running":
        state = f"{state} ({doc['reason']})"
    equity = "n/a" if doc["equity"] is None else f"{Decimal(doc['equity']):.2f}"
    return (
        f"{doc['session_id']}  {doc['mode']:6s} {state} {doc['strategy']} "
        f"{json.dumps(doc['params'], sort_keys=True)}  fills={doc['fills']} "
        f"equity={equity} {doc['currency']}"
    )


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
    from nzeza.cli.show import when
    from nzeza.store import open_ledger

    with open_ledger(args.ledger) as ledger:
        rows = [promotion_doc(r) for r in ledger.promotions(strategy=args.strategy)]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no promotion records")
    for r in rows:
        verdict = "PASSED" if r["passed"] else "refused"
        failed = {g: v for g, v in r["gates"].items() if not v.get("passed")}
        extra = f" (failed: {', '.join(failed)})" if failed else ""
        params = json.dumps(r["params"], separators=(", ", ": "))
        print(
            f"#{r['id']} {when(r['created_ns'])}  {r['strategy']} {params} → {r['target']}: "
            f"{verdict}{extra}"
        )
        for gate, v in failed.items():
            print(f"      {gate}: {v.get('detail', '')}")
        bound = r.get("binding")
        if bound:  # the run it binds (rows before schema v6 bind strategy + params only)
            print(
                f"      binds {bound.get('strategy')} on {bound.get('symbol')} @ "
                f"{bound.get('venue')}, {bound.get('timeframe')} bars, fee {bound.get('fee')}, "
                f"slippage {bound.get('slippage')}, verdict #{bound.get('verdict_id')}"
            )
    return 0


def promotion_doc(row: dict) -> dict:
    """A promotion row as a reader wants it: params and gates as JSON objects (not JSON text
    inside JSON), `passed` a boolean, `created` an ISO time next to `created_ns`."""
    import pandas as pd

    out = dict(row)
    for key in ("params", "gates", "binding"):
        if isinstance(out.get(key), str):
            with contextlib.suppress(ValueError):  # an old or hand-edited row: shown as stored
                out[key] = json.loads(out[key])
    out["passed"] = bool(out.get("passed"))
    if out.get("created_ns") is not None:
        out["created"] = pd.Timestamp(int(out["created_ns"]), tz="UTC").isoformat()
    return out


__all__ = [
    "OPEN_STATUSES",
    "promotion_doc",
    "register",
]
