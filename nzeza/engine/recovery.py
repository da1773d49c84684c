"""Recovery: rebuild a session's state from the ledger after a crash.

The ledger is the source of truth for what the session did: fills rebuild the portfolio (and are
checked against the positions and balances written with them), journaled intents say which
decisions may not have reached the venue, and `last_bar_ts` says where to resume the feed.
Reconciliation with the venue (which may know of fills the ledger missed) is `reconcile`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.domain import Fill, Instrument, Portfolio
from nzeza.errors import DataError

if TYPE_CHECKING:
    from nzeza.store import Ledger


@dataclass
class Recovered:
    portfolio: Portfolio
    fills: list[Fill]
    last_bar_ts: int | None
    last_target: Decimal
    last_seq: int
    unfilled_intents: list[dict[str, Any]] = field(default_factory=list)


def rebuild(
    ledger: Ledger, session_id: str, instrument: Instrument | Sequence[Instrument]
) -> Recovered:
    """The portfolio and decision state of `session_id` as the ledger recorded them (a
    portfolio session passes all its instruments)."""
    row = ledger.session(session_id)
    if row is None:
        raise DataError(f"session {session_id!r} is not in the ledger")
    initial = {k: Decimal(v) for k, v in json.loads(row["initial_balances"]).items()}
    instruments = [instrument] if isinstance(instrument, Instrument) else list(instrument)
    portfolio = Portfolio(row["currency"], initial, instruments)
    fills = ledger.fills(session_id)
    for fill in fills:
        portfolio.apply_fill(fill)
    # perpetuals: the funding booked (cash, additive: after the fills gives the same balances)
    for entry in ledger.funding_entries(session_id):
        portfolio.apply_funding(entry["instrument_id"], entry["ts"], entry["amount"])
    # The positions and balances rows are written in the same transaction as each fill: if
    # they disagree with the replayed fills, the ledger was edited outside nzeza.
    snap = portfolio.snapshot()
    recorded = ledger.positions(session_id)
    for inst_id, pos in recorded.items():
        if snap.position(inst_id).quantity != pos["quantity"]:
            raise DataError(
                f"ledger inconsistent for {session_id}: position {inst_id} is {pos['quantity']} "
                f"but its fills sum to {snap.position(inst_id).quantity}"
            )
    for ccy, amount in ledger.balances(session_id).items():
        if snap.balances.get(ccy) != amount:
            raise DataError(
                f"ledger inconsistent for {session_id}: balance {ccy} is {amount} "
                f"but its fills and funding give {snap.balances.get(ccy)}"
            )
    intents = ledger.intents(session_id)
    filled_ids = {f.order_id for f in fills}
    unfilled = [
        i
        for i in intents
        if i["client_order_id"] not in filled_ids and i["status"] not in ("rejected", "canceled")
    ]
    last_target = (
        Decimal(intents[-1]["target"]) if intents and intents[-1]["target"] else Decimal(0)
    )
    return Recovered(
        portfolio=portfolio,
        fills=fills,
        last_bar_ts=row.get("last_bar_ts"),
        last_target=last_target,
        last_seq=intents[-1]["seq"] if intents else 0,
        unfilled_intents=unfilled,
    )


def mark_filled_intents(ledger: Any, session_id: str) -> int:
    """Mark done every intent still `journaled` whose order has fills in the ledger: a crash
    between booking a fill and marking its intent left it so (the fill and the position are
    in the ledger; the order is not sent again). A limit, post-only or stop intent is left to
    `engine.resting` (its order may still be working with a partial fill). Returns how many it
    marked."""
    filled = {f.order_id for f in ledger.fills(session_id)}
    marked = 0
    for row in ledger.intents(session_id):
        resting = (row.get("order_type") or "market") != "market"
        if row["status"] == "journaled" and row["client_order_id"] in filled and not resting:
            ledger.mark_intent(row["client_order_id"], "done")
            marked += 1
    return marked


__all__ = [
    "Recovered",
    "mark_filled_intents",
    "rebuild",
]
