"""Promotion records: each gate's result, the decision, and its row in the ledger.

Every attempt is recorded (passed or refused, with each gate's result and the run it binds,
`nzeza.promotion.binding`); live mode refuses to start without a passed live promotion whose
binding equals the run it is about to start (`nzeza.promotion.live_check`).
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
    binding: dict[str, Any] = field(default_factory=dict)
    # the paper gate's divergence report of the session it judged (None: no paper gate)
    divergence: Any = None

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
    decision = PromotionDecision(
        strategy, dict(params), params_hash(strategy, dict(params)), target
    )
    for name, gate in gates.items():
        try:
            result = gate()
        except Exception as exc:  # a gate that cannot be evaluated does not pass
            result = GateResult(name, False, f"could not be evaluated: {exc}")
        decision.gates.append(result)
    return decision


def record(
    ledger: Any,
    decision: PromotionDecision,
    data_fingerprint: str,
    notebook_hash: str,
    binding: Mapping[str, Any] | None = None,
) -> PromotionDecision:
    """Write `decision` and the run it binds to the ledger (on the audit chain)."""
    if binding is not None:
        decision.binding = dict(binding)
    decision.record_id = ledger.add_promotion(
        strategy=decision.strategy,
        params=decision.params,
        params_hash=decision.params_hash,
        target=decision.target,
        data_fingerprint=data_fingerprint,
        notebook_hash=notebook_hash,
        gates={g.name: {"passed": g.passed, "detail": g.detail} for g in decision.gates},
        passed=decision.passed,
        binding=decision.binding or None,
    )
    return decision


__all__ = [
    "TARGETS",
    "Gate",
    "GateResult",
    "PromotionDecision",
    "evaluate",
    "file_hash",
    "params_hash",
    "record",
]
