"""Funding reconciliation: what a live perpetual session booked against what the venue credited.

A session books funding from the rate it saw (`engine.perp.FundingClock`); the venue credits or
debits its own amount, and the two can differ (a missed funding message, another mark, a
position the session did not know about). At start (resume) and once each funding time plus a
grace period has passed, the session reads the venue's payments (`Venue.funding_payments`) and
compares them with its `funding` rows, funding time by funding time:

- a venue payment the session has no row for is booked from the venue's numbers (its exact
  amount; a `funding_checks` row with `source="venue"`, `status="booked"` in the same
  transaction, both on the audit chain);
- a booked amount the venue's differs from beyond the tolerance (or one the venue credited
  nothing for, once the grace period is over) is a `funding_checks` row `status="mismatch"`,
  a risk event (`funding_mismatch`) and a warning: the booked row is never changed;
- a booked amount that agrees is a `funding_checks` row `status="match"`.

Each funding time is checked once (the table's key): a restarted session re-reading the same
history books and reports nothing twice. `plan` is the sans-I/O core (values in, actions out);
`reconcile_funding` is the shell that asks the venue and writes the ledger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.domain.numbers import ZERO

if TYPE_CHECKING:
    from nzeza.engine.perp import PerpAccount
    from nzeza.venues.base import Venue, VenueFunding

log = logging.getLogger("nzeza.engine.fundrec")

GRACE_NS = 120 * 1_000_000_000  # after a funding time, how long the venue may take to credit it
ABS_TOLERANCE = Decimal("0.000001")  # venues round payments (Hyperliquid: 6 decimals of USDC)
REL_TOLERANCE = Decimal("0.001")  # of the venue's amount: a mark a few bps apart is not reported


@dataclass(frozen=True, slots=True)
class FundingAction:
    """One funding time's outcome: `kind` is "book" (the venue's payment, not booked), "match"
    or "mismatch"; `booked` the session's amount (None: none), `payment` the venue's (None:
    the venue credited nothing)."""

    kind: str
    ts: int
    booked: Decimal | None
    payment: VenueFunding | None

    @property
    def difference(self) -> Decimal:
        venue = self.payment.amount if self.payment is not None else ZERO
        return (self.booked or ZERO) - venue


def funding_time(venue_ts: int, interval_ns: int) -> int:
    """The funding time a venue's stamp belongs to: the nearest multiple of the interval
    (venues stamp a payment a few ms to seconds after its time)."""
    return (venue_ts + interval_ns // 2) // interval_ns * interval_ns


def within(booked: Decimal, venue: Decimal) -> bool:
    return abs(booked - venue) <= max(ABS_TOLERANCE, REL_TOLERANCE * abs(venue))


def plan(
    booked: dict[int, Decimal],
    payments: list[VenueFunding],
    checked: set[int],
    interval_ns: int,
    now_ns: int,
    since_ns: int,
    grace_ns: int = GRACE_NS,
) -> list[FundingAction]:
    """Compare booked funding {funding time: amount} with the venue's payments, skipping the
    times already `checked`; a booked time the venue has nothing for is a mismatch only once
    its grace period is over (before it, it is left for the next check). Oldest first."""
    venue: dict[int, list[VenueFunding]] = {}
    for p in payments:
        venue.setdefault(funding_time(p.ts, interval_ns), []).append(p)
    out = []
    for ts in sorted(set(venue) | set(booked)):
        if ts in checked or ts < since_ns:
            continue
        got = venue.get(ts)
        payment = None
        if got:
            payment = got[-1]
            if len(got) > 1:  # one payment per time; several are summed as the venue's total
                total = sum((p.amount for p in got), ZERO)
                payment = type(payment)(
                    payment.instrument_id, payment.ts, total, payment.rate, payment.position
                )
        mine = booked.get(ts)
        if mine is None and payment is not None:
            out.append(FundingAction("book", ts, None, payment))
        elif mine is not None and payment is None:
            if ts + grace_ns <= now_ns:
                out.append(FundingAction("mismatch", ts, mine, None))
        elif mine is not None and payment is not None:
            kind = "match" if within(mine, payment.amount) else "mismatch"
            out.append(FundingAction(kind, ts, mine, payment))
    return out


@dataclass
class FundingReconciliation:
    """What one reconciliation did (counts of funding times)."""

    booked: int = 0
    matched: int = 0
    mismatched: int = 0
    supported: bool = True


async def reconcile_funding(
    perp: PerpAccount,
    venue: Venue,
    *,
    now_ns: int,
    since_ns: int,
    price: Decimal | None = None,
    grace_ns: int = GRACE_NS,
) -> FundingReconciliation:
    """Reconcile `perp`'s booked funding with `venue`'s payments since `since_ns` (see the
    module). `price` (the last trade) prices a missed payment the venue gives no rate for."""
    result = FundingReconciliation()
    ledger = perp.ledger
    if ledger is None:
        return result
    payments = await venue.funding_payments(perp.spec.id, since_ns)
    if payments is None:
        result.supported = False
        return result
    sid, iid = perp.session_id, perp.spec.id
    booked = {
        e["ts"]: e["amount"] for e in ledger.funding_entries(sid) if e["instrument_id"] == iid
    }
    checked = {c["ts"] for c in ledger.funding_checks(sid) if c["instrument_id"] == iid}
    actions = plan(
        booked, payments, checked, perp.spec.funding_interval_ns, now_ns, since_ns, grace_ns
    )
    for act in actions:
        pay = act.payment
        if act.kind == "book" and pay is not None:
            if perp.book_from_venue(act.ts, pay, price) is not None:
                result.booked += 1
                log.warning(
                    "funding booked from the venue",
                    extra={"ts": act.ts, "amount": str(pay.amount), "instrument": iid},
                )
            continue
        common: dict[str, Any] = dict(
            source="session",
            booked_amount=act.booked,
            venue_amount=None if pay is None else pay.amount,
            venue_ts=None if pay is None else pay.ts,
        )
        if act.kind == "match":
            ledger.record_funding_check(sid, iid, act.ts, status="match", **common)
            result.matched += 1
            continue
        venue_text = "nothing" if pay is None else str(pay.amount)
        detail = (
            f"funding of {iid} at {act.ts}: booked {act.booked}, the venue credited {venue_text}"
        )
        with ledger.batch():
            ledger.record_funding_check(sid, iid, act.ts, status="mismatch", **common)
            ledger.record_risk_event(
                sid, "funding_mismatch", REL_TOLERANCE, act.difference, detail, ts=act.ts
            )
        result.mismatched += 1
        log.warning("funding mismatch", extra={"detail": detail})
    return result


__all__ = [
    "ABS_TOLERANCE",
    "GRACE_NS",
    "REL_TOLERANCE",
    "FundingAction",
    "FundingReconciliation",
    "funding_time",
    "plan",
    "reconcile_funding",
    "within",
]
