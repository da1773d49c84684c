"""The live gates as a notebook sees them: every gate, passed or not, with its reason.

The gates are `nzeza.promotion.live_check.live_gates`, the very list `nzeza live` refuses on,
for the same run (the defaults are `nzeza live`'s), so a notebook never shows a gate passing
that the CLI would fail.
"""

from __future__ import annotations

from typing import Any

from nzeza.errors import NzezaError
from nzeza.promotion.records import GateResult


def live_gates(
    strategy: str,
    params: dict[str, Any],
    ledger_url: str | None = None,
    *,
    symbol: str = "BTCUSDT",
    timeframe: str = "5s",
    fee: float = 0.001,
    slippage: float = 0.0005,
    vol_target: float | None = None,
    vol_lookback: int = 168,
) -> list[GateResult]:
    """Settings, feed, promotion and ledger-integrity gates, each PASS or FAIL with its reason."""
    from nzeza.domain import Costs
    from nzeza.engine.runner import resolve_strategy
    from nzeza.engine.sizing import VolTargeting
    from nzeza.feeds.bars import timeframe_ns
    from nzeza.notebook.parameters import parse_mapping
    from nzeza.ops.settings import load_settings
    from nzeza.promotion.live_check import (
        integrity_gate,
        live_binding,
        promotion_gate,
        settings_gate,
    )
    from nzeza.store import open_ledger

    instance, name, _ = resolve_strategy(strategy, parse_mapping("params", params))
    vol = None
    if vol_target is not None:
        per_year = 365 * 86_400 * 1_000_000_000 / timeframe_ns(timeframe)
        vol = VolTargeting(float(vol_target), int(vol_lookback), periods_per_year=per_year)
    try:
        settings = load_settings(require_live=False)
    except NzezaError as exc:  # a setting that does not even load (named in the message)
        settings = None
        failed = ("live settings", [str(exc)], "")
    now = live_binding(
        settings,
        instance,
        symbol=symbol,
        timeframe=timeframe,
        costs=Costs(fee, slippage),
        vol_targeting=vol,
    )
    with open_ledger(ledger_url) as ledger:
        gates = [
            failed if settings is None else settings_gate(settings),
            promotion_gate(ledger, now, name, settings),
            integrity_gate(ledger, now, name, settings),
        ]
    return [
        GateResult(name, not problems, "; ".join(problems) if problems else passed)
        for name, problems, passed in gates
    ]


__all__ = [
    "live_gates",
]
