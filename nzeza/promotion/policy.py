"""The thresholds a promotion is judged by: settings (`NZEZA_GATES__…`, floors enforced there),
tightened, never loosened, by command-line flags.

`policy_from(settings_gates, flags)` is the one way a promotion gets its thresholds; the
policy and every threshold the settings loosen past its default are recorded with the
promotion (`record()`), so a loosened gate is on the ledger, next to the decision it allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from nzeza.errors import ValidationError
from nzeza.ops.gatesettings import (
    DEFAULT_GATES,
    DIRECTION,
    FLOORS,
    GateSettings,
    loosened_gates,
    stricter,
)


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds of the promotion gates (defaults: `nzeza.ops.gatesettings.GateSettings`)."""

    min_paper_bars: int = DEFAULT_GATES.min_paper_bars
    min_paper_days: float = DEFAULT_GATES.min_paper_days
    max_tracking_error: float = DEFAULT_GATES.max_tracking_error
    max_excess_slippage_bps: float = DEFAULT_GATES.max_excess_slippage_bps
    max_trade_mismatch: float = DEFAULT_GATES.max_trade_mismatch
    parity_tolerance: float = DEFAULT_GATES.parity_tolerance
    max_pbo: float = DEFAULT_GATES.max_pbo
    # thresholds the settings loosened past their defaults: {name: {default, given, floor}}
    loosened: tuple[tuple[str, float, float], ...] = ()

    def record(self) -> dict[str, Any]:
        """The thresholds as recorded with a promotion (and bound into it)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name in DIRECTION}
        out["loosened"] = {name: {"default": d, "given": g} for name, d, g in self.loosened}
        return out

    def looser_than(self, other: Mapping[str, Any]) -> list[str]:
        """Each threshold of this policy looser than `other`'s (a recorded policy), named."""
        out = []
        for name in DIRECTION:
            if name in other and stricter(name, float(other[name]), float(getattr(self, name))):
                out.append(f"{name}: promoted under {getattr(self, name)!r}, now {other[name]!r}")
        return out


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def policy_from(
    gates: GateSettings | None = None, flags: Mapping[str, Any] | None = None
) -> GatePolicy:
    """The policy of the settings' `gates`, tightened by `flags` ({threshold: value or None}).

    A flag that would loosen a threshold is refused (`ValidationError` naming the flag, the
    value, the settings' value and the floor): loosening is a settings change, above the
    floor, recorded with the promotion."""
    gates = gates if gates is not None else DEFAULT_GATES
    base = {name: getattr(gates, name) for name in DIRECTION}
    policy = GatePolicy(
        **base,
        loosened=tuple((n, v["default"], v["given"]) for n, v in loosened_gates(gates).items()),
    )
    changes: dict[str, Any] = {}
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in DIRECTION:
            raise ValidationError(flag_name(name), value, "is not a gate threshold")
        kind = int if name == "min_paper_bars" else float
        try:
            given = kind(value)
        except (TypeError, ValueError):
            raise ValidationError(flag_name(name), value, "is not a number") from None
        if not given >= 0:
            raise ValidationError(flag_name(name), value, "must be a number >= 0")
        if stricter(name, base[name], given):
            raise ValidationError(
                flag_name(name),
                value,
                f"would loosen the gate (settings: {base[name]!r}, floor for live: "
                f"{FLOORS[name]:g}); a flag may only tighten it — loosen it in settings "
                f"(NZEZA_GATES__{name.upper()}), above the floor, and the promotion records it",
            )
        changes[name] = given
    return replace(policy, **changes)


def policy_record(policy: GatePolicy) -> dict[str, Any]:
    return policy.record()


__all__ = ["GatePolicy", "flag_name", "policy_from", "policy_record"]
