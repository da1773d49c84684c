"""The `gates` section of the settings: the thresholds of the promotion gates, with floors.

    NZEZA_GATES__MIN_PAPER_BARS=500        bars of the verdict's timeframe a paper session ran
    NZEZA_GATES__MIN_PAPER_DAYS=14         ... or days it ran (whichever is reached first)
    NZEZA_GATES__MAX_TRACKING_ERROR=0.005  |paper − research| final equity, fraction of equity
    NZEZA_GATES__MAX_EXCESS_SLIPPAGE_BPS=10  realised slippage above the assumed, per fill
    NZEZA_GATES__MAX_TRADE_MISMATCH=0.1    missed + extra trades, fraction of research trades
    NZEZA_GATES__PARITY_TOLERANCE=1e-9     research vs the session engine's windowed replay
    NZEZA_GATES__MAX_PBO=0.2               the verdict's probability of backtest overfitting

Each may be loosened here, never past its floor (`FLOORS`: the loosest value nzeza accepts
for live); a setting past its floor does not load. A setting looser than its default is
recorded with every promotion made under it (`loosened_gates`). A command-line flag may only
tighten (`nzeza.promotion.policy`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

# "min": a higher value is stricter; "max": a lower value is stricter
DIRECTION = {
    "min_paper_bars": "min",
    "min_paper_days": "min",
    "max_tracking_error": "max",
    "max_excess_slippage_bps": "max",
    "max_trade_mismatch": "max",
    "parity_tolerance": "max",
    "max_pbo": "max",
}
# the loosest each threshold may be set: 100 bars are a few dozen decisions at least; a week
# sees every weekday; 5 % tracking, 50 bps excess slippage, half the trades mismatched, a 1e-6
# parity gap and a PBO of 0.5 (a coin flip) are where the evidence stops meaning anything
FLOORS: dict[str, float] = {
    "min_paper_bars": 100,
    "min_paper_days": 7,
    "max_tracking_error": 0.05,
    "max_excess_slippage_bps": 50.0,
    "max_trade_mismatch": 0.5,
    "parity_tolerance": 1e-6,
    "max_pbo": 0.5,
}


def stricter(name: str, a: float, b: float) -> bool:
    """True when `a` is strictly stricter than `b` for threshold `name`."""
    return a > b if DIRECTION[name] == "min" else a < b


def past_floor(name: str, value: float) -> bool:
    return stricter(name, FLOORS[name], value)


class GateSettings(BaseModel):
    """Thresholds of the promotion gates (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    min_paper_bars: int = 500  # three weeks of hourly bars: enough to see several decisions
    min_paper_days: float = 14.0
    max_tracking_error: float = 0.005
    max_excess_slippage_bps: float = 10.0
    max_trade_mismatch: float = 0.1
    parity_tolerance: float = 1e-9
    max_pbo: float = 0.2

    @field_validator(*DIRECTION, mode="after")
    @classmethod
    def _floor(cls, value: float, info: ValidationInfo) -> float:
        name = str(info.field_name)
        if not float(value) >= 0:
            raise ValueError(f"{value!r} must be a number >= 0")
        if past_floor(name, float(value)):
            raise ValueError(
                f"{value:g} is past its floor {FLOORS[name]:g} (the loosest nzeza accepts for live)"
            )
        return value


DEFAULT_GATES = GateSettings()


def loosened_gates(gates: GateSettings) -> dict[str, dict[str, Any]]:
    """Every threshold `gates` sets looser than its default: {name: {default, given, floor}}."""
    out: dict[str, dict[str, Any]] = {}
    for name in DIRECTION:
        mine, default = float(getattr(gates, name)), float(getattr(DEFAULT_GATES, name))
        if stricter(name, default, mine):
            out[name] = {"default": default, "given": mine, "floor": FLOORS[name]}
    return out


__all__ = ["DEFAULT_GATES", "DIRECTION", "FLOORS", "GateSettings", "loosened_gates", "stricter"]
