"""The live gates as a notebook sees them: every gate, passed or not, with its reason."""

from __future__ import annotations

from typing import Any

from nzeza.errors import LiveTradingNotAllowed, NzezaError
from nzeza.notebook.promotion import GateResult


def live_gates(
    strategy: str, params: dict[str, Any], ledger_url: str | None = None
) -> list[GateResult]:
    """Settings gate (endpoints, credentials, confirmation) and promotion gate, each reported."""
    from nzeza.ops.settings import load_settings
    from nzeza.store import open_ledger
    from nzeza.store.promotions import require_live_promotion

    gates: list[GateResult] = []
    try:
        load_settings(require_live=True)
        gates.append(GateResult("live settings", True, "endpoints, credentials and confirmation"))
    except LiveTradingNotAllowed as exc:
        gates.append(GateResult("live settings", False, "; ".join(exc.reasons)))
    except NzezaError as exc:
        gates.append(GateResult("live settings", False, str(exc)))
    try:
        with open_ledger(ledger_url) as ledger:
            row = require_live_promotion(ledger, strategy, params)
        gates.append(GateResult("promotion", True, f"promotion record #{row['id']}"))
    except LiveTradingNotAllowed as exc:
        gates.append(GateResult("promotion", False, "; ".join(exc.reasons)))
    return gates
