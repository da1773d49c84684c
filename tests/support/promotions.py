"""A passed live promotion written the way `nzeza promote --to live` writes one: through the
ledger (on its audit chain), binding exactly the run a test's `nzeza live` is about to start.
For tests of the live session itself, whose subject is not the promotion gates."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from nzeza.domain import Costs
from nzeza.engine.runner import resolve_strategy
from nzeza.ops.risksettings import RiskSettings
from nzeza.promotion.live_check import live_binding
from nzeza.promotion.policy import policy_from
from nzeza.store import Ledger


def grant_live(
    ledger_url: str,
    spec: str,
    params: dict[str, Any] | list[str] | None = None,
    *,
    symbol: str = "BTCUSDT",
    venue: str = "binance",
    timeframe: str = "5s",
    fee: float = 0.001,
    slippage: float = 0.0005,
    risk: RiskSettings | None = None,
    vol_targeting: Any = None,
    passed: bool = True,
    **binding_overrides: Any,
) -> int:
    """Record a live promotion of `spec` + `params` for this run; returns its id."""
    strategy, name, full = resolve_strategy(spec, params)
    settings = SimpleNamespace(live_venue=venue, risk=risk or RiskSettings(), gates=None)
    binding = live_binding(
        settings,
        strategy,
        symbol=symbol,
        timeframe=timeframe,
        costs=Costs(fee, slippage),
        vol_targeting=vol_targeting,
    )
    binding.update(thresholds=policy_from().record(), verdict_id=None)
    binding.update(binding_overrides)
    from nzeza.strategies.base import params_hash

    with Ledger(ledger_url) as led:
        return led.add_promotion(
            strategy=name,
            params=full,
            params_hash=params_hash(name, full),
            target="live",
            data_fingerprint="d",
            notebook_hash="n",
            gates={"verdict": {"passed": passed, "detail": "granted by a test"}},
            passed=passed,
            binding=binding,
        )
