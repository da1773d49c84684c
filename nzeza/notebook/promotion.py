"""Promotion: a notebook's strategy goes to paper, then live, only through explicit gates.

Gates for `--to paper`:
  verdict    the newest verdict in the ledger of this strategy identity + parameters is SCALE
  lookahead  the lookahead check passes on the data
  parity     the session engine's replay equals the research backtest
Additionally for `--to live`:
  paper      a paper session of this strategy + parameters ran at least `min_paper_bars` bars
             with no risk-breaker trip, and its equity tracks a replay of the same bars within
             `max_tracking_error`

Every attempt is recorded in the ledger (passed or refused, with each gate's result), and live
mode refuses to start without a passed live promotion of the exact strategy and parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nzeza.errors import ValidationError
from nzeza.strategies.base import params_hash

TARGETS = ("paper", "live")


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds of the promotion gates (documented defaults, all configurable)."""

    min_paper_bars: int = 500  # three weeks of hourly bars: enough to see several decisions
    max_tracking_error: float = 0.005  # 0.5% of equity: paper and replay see the same bars
    parity_tolerance: float = 1e-9


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


@dataclass
class PromotionDecision:
    strategy: str
    params: dict[str, Any]
    params_hash: str
    target: str
    gates: list[GateResult] = field(default_factory=list)
    record_id: int | None = None

    @property
    def passed(self) -> bool:
        return bool(self.gates) and all(g.passed for g in self.gates)

    def __str__(self) -> str:
        head = "PROMOTED" if self.passed else "REFUSED"
        lines = [f"{head}: {self.strategy} {self.params} → {self.target}"]
        lines += [f"  {g}" for g in self.gates]
        return "\n".join(lines)


def file_hash(path: str | Path | None) -> str:
    if path is None:
        return "-"
    p = Path(path)
    if not p.is_file():
        raise ValidationError("notebook", str(path), "no such notebook file")
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


Gate = Callable[[], GateResult]


def evaluate(
    strategy: str, params: Mapping[str, Any], target: str, gates: Mapping[str, Gate]
) -> PromotionDecision:
    """Run each gate (a gate that raises fails with the error as its detail)."""
    if target not in TARGETS:
        raise ValidationError("target", target, "must be paper or live")
    decision = PromotionDecision(strategy, dict(params), params_hash(strategy, params), target)
    for name, gate in gates.items():
        try:
            result = gate()
        except Exception as exc:  # a gate that cannot be evaluated does not pass
            result = GateResult(name, False, f"could not be evaluated: {exc}")
        decision.gates.append(result)
    return decision


def record(
    ledger: Any, decision: PromotionDecision, data_fingerprint: str, notebook_hash: str
) -> PromotionDecision:
    decision.record_id = ledger.add_promotion(
        strategy=decision.strategy,
        params=decision.params,
        params_hash=decision.params_hash,
        target=decision.target,
        data_fingerprint=data_fingerprint,
        notebook_hash=notebook_hash,
        gates={g.name: {"passed": g.passed, "detail": g.detail} for g in decision.gates},
        passed=decision.passed,
    )
    return decision


# re-exported: the check itself lives with the ledger, so live sessions need no notebook code
from nzeza.store.promotions import require_live_promotion  # noqa: E402

__all__ = [
    "GatePolicy",
    "GateResult",
    "PromotionDecision",
    "evaluate",
    "file_hash",
    "params_hash",
    "record",
    "require_live_promotion",
]
