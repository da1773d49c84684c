"""What `nzeza status` reports of a session, read from the ledger: one plain dict per session.

`state` is the ledger's status (running, finished, stopped, failed) and `reason` the reason
recorded with it; `holder` names the process that holds the session's lock now (None when no
process does: a `running` session without one has crashed and can be resumed). Money is given
as decimal strings, as the ledger keeps it. `equity` is the final snapshot's (at the last trade
seen) once the session has stopped, else the last closed bar's.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from nzeza.store import schema as s
from nzeza.store.locks import lock_holder


def _last_audit(ledger: Any, session_id: str, kind: str) -> dict[str, Any] | None:
    q = (
        select(s.audit_log.c.payload)
        .where(s.audit_log.c.session_id == session_id, s.audit_log.c.kind == kind)
        .order_by(s.audit_log.c.seq.desc())
        .limit(1)
    )
    with ledger.engine.connect() as conn:
        row = conn.execute(q).first()
    return json.loads(row[0]) if row else None


def _reason(event: dict[str, Any]) -> str:
    """A risk event in words: what happened, the value and the limit it was judged against."""
    facts = f"value {event['value']}, limit {event['limit_value']}"
    return f"{event['detail']} ({facts})" if event["detail"] else f"breach: {facts}"


def _funding_totals(entries: list[dict[str, Any]]) -> dict[str, Any]:
    amounts = [e["amount"] for e in entries]
    return {
        "payments": len(amounts),
        "paid": str(-sum((a for a in amounts if a < 0), Decimal(0))),
        "received": str(sum((a for a in amounts if a > 0), Decimal(0))),
    }


def _funding_reconciled(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """What reconciling the booked funding with the venue's payments found (live sessions:
    `engine.fundrec`): funding times checked, matched, booked from the venue, mismatched (each
    with both amounts), and the last funding time checked."""
    by = {"match": 0, "booked": 0, "mismatch": 0}
    for c in checks:
        by[c["status"]] = by.get(c["status"], 0) + 1
    return {
        "checked": len(checks),
        "matched": by["match"],
        "booked_from_venue": by["booked"],
        "mismatched": by["mismatch"],
        "last_ts": max((int(c["ts"]) for c in checks), default=None),
        "mismatches": [
            {
                "instrument_id": c["instrument_id"],
                "ts": int(c["ts"]),
                "booked": None if c["booked_amount"] is None else str(c["booked_amount"]),
                "venue": None if c["venue_amount"] is None else str(c["venue_amount"]),
            }
            for c in checks
            if c["status"] == "mismatch"
        ],
    }


def session_status(ledger: Any, session_id: str) -> dict[str, Any] | None:
    """The status document of `session_id` (None when the ledger has no such session)."""
    row = ledger.session(session_id)
    if row is None:
        return None
    status = _last_audit(ledger, session_id, "session_status") or {}
    stop = _last_audit(ledger, session_id, "session_stop") or {}
    curve = ledger.equity_curve(session_id)
    equity = None
    if row["status"] != "running" and stop.get("equity") is not None:
        equity = stop["equity"]
    elif curve:
        equity = str(curve[-1][1])
    balances = ledger.balances(session_id)
    initial = json.loads(row["initial_balances"])
    cash = balances.get(row["currency"])
    return {
        "session_id": session_id,
        "mode": row["mode"],
        "strategy": row["strategy"],
        "params": json.loads(row["params"]),
        "venue": row["venue"],
        "currency": row["currency"],
        "state": row["status"],
        "reason": status.get("reason", ""),
        "holder": lock_holder(ledger, session_id),
        "started_ns": row["started_ns"],
        "updated_ns": row["updated_ns"],
        "initial_balances": initial,
        "cash": str(cash) if cash is not None else initial.get(row["currency"]),
        "equity": equity,
        "bars": len(curve),
        "fills": len(ledger.fills(session_id)),
        # perpetuals: funding booked (+ received, − paid) and liquidation orders
        "funding": _funding_totals(ledger.funding_entries(session_id)),
        "funding_reconciled": _funding_reconciled(ledger.funding_checks(session_id)),
        "liquidations": [
            {k: r[k] for k in ("client_order_id", "instrument_id", "ts", "position", "price")}
            for r in ledger.liquidations(session_id)
        ],
        "positions": {
            inst: {k: str(v) for k, v in pos.items()}
            for inst, pos in ledger.positions(session_id).items()
        },
        "orders": [
            {
                "client_order_id": o["client_order_id"],
                "side": o["side"],
                "type": o["order_type"],
                "quantity": o["quantity"],
                "price": o["price"],
                "status": o["status"],
                "filled_qty": o["filled_qty"],
                "avg_fill_price": o["avg_fill_price"],
                "reason": o["reason"],
                "updated_ns": o["updated_ns"],
            }
            for o in ledger.orders(session_id)
        ],
        "risk_events": [
            {
                "check": e["check_name"],
                "reason": _reason(e),
                "limit": e["limit_value"],
                "value": e["value"],
                "ts": e["ts"],
            }
            for e in ledger.risk_events(session_id)
        ],
        "config": json.loads(row["config"] or "{}"),
    }


__all__ = ["session_status"]
