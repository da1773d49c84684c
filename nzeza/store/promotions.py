"""The live gate on the ledger: live mode needs a passed promotion of the exact configuration,
and that promotion must be the ledger's own (its row and its entry in the keyed audit chain)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nzeza.errors import LiveTradingNotAllowed
from nzeza.strategies.base import params_hash


def require_live_promotion(ledger: Any, strategy: str, params: Mapping[str, Any]) -> dict:
    """The passed live promotion of exactly this strategy + parameters, or LiveTradingNotAllowed."""
    h = params_hash(strategy, dict(params))
    rows = ledger.promotions(strategy=strategy, target="live", params_hash=h, passed_only=True)
    if not rows:
        tried = ledger.promotions(strategy=strategy, target="live", params_hash=h)
        why = (
            f"the last live promotion attempt (#{tried[-1]['id']}) was refused"
            if tried
            else "no live promotion record exists"
        )
        raise LiveTradingNotAllowed(
            [
                f"promotion gate: {strategy} {dict(params)} (params hash {h}) is not promoted to "
                f"live: {why}; run `nzeza promote NOTEBOOK --params ... --to live`"
            ]
        )
    return rows[-1]


_EVENT_FIELDS = ("strategy", "params_hash", "target", "passed")


def promotion_evidence(report: Any, row: Mapping[str, Any]) -> list[str]:
    """Why the promotion `row` is not evidence the ledger vouches for (empty when it is): its
    row must match the audit chain (`report`, a verified `AuditReport`), and the chain must
    hold the promotion entry written with it, recording the same decision."""
    pid = int(row["id"])
    problems = [p.what for p in report.about("promotions", pid)]
    want = {f: (bool(row[f]) if f == "passed" else row[f]) for f in _EVENT_FIELDS}
    event = report.promotion_events.get(pid)
    if event is None:  # written before promotion entries named their row: match the decision
        older = [e for e in report.legacy_promotion_events if _fields(e) == want]
        event = older[-1] if older else None
    if event is None:
        problems.append("no promotion entry in the audit chain records it (written by hand?)")
    elif _fields(event) != want:
        problems.append(f"its audit entry records {_fields(event)}, the row says {want}")
    return [f"promotion #{pid}: {p}" for p in problems]


def _fields(event: Mapping[str, Any]) -> dict[str, Any]:
    return {f: event.get(f) for f in _EVENT_FIELDS}
