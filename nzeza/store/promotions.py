"""The live gate on the ledger: live mode needs a passed promotion of the exact configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nzeza.errors import LiveTradingNotAllowed
from nzeza.strategies.base import params_hash


def require_live_promotion(ledger: Any, strategy: str, params: Mapping[str, Any]) -> dict:
    """The passed live promotion of exactly this strategy + parameters, or LiveTradingNotAllowed."""
    h = params_hash(strategy, params)
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
