"""Strategies: the `Strategy` contract, the shipped strategies and the registry.

from nzeza.strategies import get_strategy, list_strategies
SmaCross = get_strategy("sma_cross"); s = SmaCross(fast=10, slow=30)
"""

from __future__ import annotations

from nzeza.errors import ValidationError
from nzeza.strategies.base import Strategy, quantize
from nzeza.strategies.identity import (
    Identified,
    StrategyIdentity,
    class_path,
    identify,
    params_digest,
    strategy_identity,
)
from nzeza.strategies.technical import (
    SHIPPED,
    BollingerReversion,
    DonchianBreakout,
    RsiReversion,
    SmaCross,
    TrendRsiCombo,
    VolTargetMomentum,
)

REGISTRY: dict[str, type[Strategy]] = {cls.name: cls for cls in SHIPPED}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Add a strategy class to the registry (usable as a decorator in a notebook)."""
    REGISTRY[cls.name] = cls
    return cls


def get_strategy(name: str) -> type[Strategy]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValidationError("strategy", name, f"unknown; one of {', '.join(REGISTRY)}") from None


def list_strategies() -> list[dict[str, object]]:
    return [
        {
            "name": n,
            "class": c.__name__,
            "description": c.description,
            "params": {k: getattr(c, k) for k in c._param_types},
        }
        for n, c in REGISTRY.items()
    ]


__all__ = [
    "REGISTRY",
    "BollingerReversion",
    "DonchianBreakout",
    "Identified",
    "RsiReversion",
    "SmaCross",
    "Strategy",
    "StrategyIdentity",
    "TrendRsiCombo",
    "VolTargetMomentum",
    "class_path",
    "get_strategy",
    "identify",
    "list_strategies",
    "params_digest",
    "quantize",
    "register",
    "strategy_identity",
]
