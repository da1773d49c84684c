"""Strategies: the `Strategy` contract, the shipped strategies and the registry.

from nzeza.strategies import get_strategy, list_strategies
SmaCross = get_strategy("sma_cross"); s = SmaCross(fast=10, slow=30)
"""

from __future__ import annotations

from typing import Any

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
from nzeza.strategies.portfolio import CrossSectionalMomentum, PortfolioStrategy
from nzeza.strategies.technical import (
    SHIPPED,
    BollingerReversion,
    DonchianBreakout,
    RsiReversion,
    SmaCross,
    TrendRsiCombo,
    VolTargetMomentum,
)

# single-symbol strategies (what backtests, sweeps, validations and sessions run)
REGISTRY: dict[str, type[Strategy]] = {cls.name: cls for cls in SHIPPED}
# portfolio strategies (a panel in, weights out: nzeza.research.portfolio), listed apart
SHIPPED_PORTFOLIO: tuple[type[Strategy], ...] = (CrossSectionalMomentum,)
PORTFOLIO_REGISTRY: dict[str, type[Strategy]] = {cls.name: cls for cls in SHIPPED_PORTFOLIO}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Add a strategy class to the registry (usable as a decorator in a notebook); a
    portfolio strategy to the portfolio registry."""
    (PORTFOLIO_REGISTRY if issubclass(cls, PortfolioStrategy) else REGISTRY)[cls.name] = cls
    return cls


def shipped(name: str) -> type[Strategy] | None:
    """A registered strategy class by name (single-symbol or portfolio), None if unknown."""
    if not isinstance(name, str):
        return None
    return REGISTRY.get(name) or PORTFOLIO_REGISTRY.get(name)


def get_strategy(name: str) -> type[Strategy]:
    """A shipped strategy by name, or any strategy class by `module:Class` or
    `path/to/file.py:Class` (see `nzeza.strategies.loading`)."""
    if isinstance(name, str) and ":" in name:
        from nzeza.strategies.loading import strategy_class

        return strategy_class(name)
    found = shipped(name)
    if found is None:
        raise ValidationError(
            "strategy",
            name,
            f"unknown; one of {', '.join([*REGISTRY, *PORTFOLIO_REGISTRY])}, or module:Class, "
            "or path/to/file.py:Class",
        )
    return found


def is_portfolio(strategy: object) -> bool:
    """A portfolio strategy (class or instance): it trades a panel with target weights."""
    cls = strategy if isinstance(strategy, type) else type(strategy)
    return issubclass(cls, PortfolioStrategy)


def describe(name: str, cls: type) -> dict[str, object]:
    """Name, class path, description and default parameters of a strategy class."""
    return {
        "name": name,
        "class": cls.__name__,
        "family": class_path(cls),
        "description": getattr(cls, "description", "") or (cls.__doc__ or "").strip()[:80],
        "params": {k: getattr(cls, k) for k in getattr(cls, "_param_types", {})},
    }


def list_strategies(extra: list[tuple[str, type]] | None = None) -> list[dict[str, Any]]:
    """The shipped strategies (single-symbol, then portfolio), then `extra` ((spec, class)
    pairs: given or discovered)."""
    everything = [*REGISTRY.items(), *PORTFOLIO_REGISTRY.items(), *(extra or [])]
    return [describe(n, c) for n, c in everything]


__all__ = [
    "PORTFOLIO_REGISTRY",
    "REGISTRY",
    "SHIPPED_PORTFOLIO",
    "BollingerReversion",
    "CrossSectionalMomentum",
    "DonchianBreakout",
    "Identified",
    "PortfolioStrategy",
    "RsiReversion",
    "SmaCross",
    "Strategy",
    "StrategyIdentity",
    "TrendRsiCombo",
    "VolTargetMomentum",
    "class_path",
    "describe",
    "get_strategy",
    "identify",
    "is_portfolio",
    "list_strategies",
    "params_digest",
    "quantize",
    "register",
    "shipped",
    "strategy_identity",
]
