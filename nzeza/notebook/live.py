"""The live gates as a notebook sees them: every gate, passed or not, with its reason.

The gates are `nzeza.engine.live.live_gates`, the very list `nzeza live` refuses on, so a
notebook never shows a gate passing that the CLI would fail.
"""

from __future__ import annotations

from typing import Any

from nzeza.errors import NzezaError
from nzeza.notebook.promotion import GateResult


def live_gates(
    strategy: str, params: dict[str, Any], ledger_url: str | None = None
) -> list[GateResult]:
    """Settings, feed, promotion and ledger-integrity gates, each PASS or FAIL with its reason."""
    from nzeza.engine.live import integrity_gate, promotion_gate
    from nzeza.engine.live import live_gates as gates_of
    from nzeza.ops.settings import load_settings
    from nzeza.store import open_ledger

    try:
        settings = load_settings(require_live=False)
    except NzezaError as exc:  # a setting that does not even load (named in the message)
        settings = None
        failed = ("live settings", [str(exc)], "")
    with open_ledger(ledger_url) as ledger:
        if settings is None:
            gates = [
                failed,
                promotion_gate(ledger, strategy, params),
                integrity_gate(ledger, strategy, params),
            ]
        else:
            gates = gates_of(settings, ledger, strategy, params)
    return [
        GateResult(name, not problems, "; ".join(problems) if problems else passed)
        for name, problems, passed in gates
    ]
