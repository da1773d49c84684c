"""Notebook parameters as papermill, pipelines and people hand them in.

Every product notebook calls `use_parameters(globals())` in the first cell after its
`parameters` cell (and after papermill's injected one), so a value means the same whether it
came from the parameters cell, `papermill -p/-y/-r`, a pipeline spec or a JupyterLab edit:

- `params` is a mapping or a JSON object string (`-p params '{"window": 30}'`); None or ""
  means no overrides. With a `strategy` in the notebook it becomes that strategy's complete
  parameter set: its own defaults, overridden by what was given. So `-p strategy
  bollinger_reversion` alone runs Bollinger with Bollinger's defaults.
- `grid` is None (the strategy's own search space), a mapping or a JSON object string of
  lists; a scalar value is a grid of one.
- `strategy` must name a known strategy; counts (`last_bars`, `train`, ...) must be positive
  integers and costs (`fee`, `slippage`) fractions in [0, 1), also when given as strings.
- `fees` is None (or "") or a venue of `nzeza.domain.fees` (`nzeza config fees`): the
  notebook then costs its runs with that venue's base-tier maker and taker fees instead of
  `fee`; an unknown venue names the known ones.

Anything wrong is a `ValidationError` naming the parameter and the value, raised in that first
cell, before any work.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

from nzeza.engine.runner import parse_mapping
from nzeza.errors import ValidationError

COUNTS = ("last_bars", "bars_count", "plot_last", "train", "test")
FRACTIONS = ("fee", "slippage")


def strategy_params(strategy: str, params: Any = None) -> dict[str, Any]:
    """`strategy`'s complete parameters: its defaults overridden by `params` (see
    `parse_mapping`); unknown names and bad values raise the strategy's own error."""
    from nzeza.strategies import get_strategy

    cls = get_strategy(strategy)
    return dict(cls(**parse_mapping("params", params)).params)


def parse_grid(grid: Any, strategy: str | None = None) -> dict[str, list[Any]] | None:
    """A sweep grid {name: [values]}, or None for the strategy's own search space."""
    if grid is None or (isinstance(grid, str) and not grid.strip()):
        return None
    out = {
        k: list(v) if isinstance(v, list | tuple) else [v]
        for k, v in parse_mapping("grid", grid).items()
    }
    for key, values in out.items():
        if not values:
            raise ValidationError(f"grid.{key}", values, "must list at least one value")
    if strategy is not None:
        from nzeza.strategies import get_strategy

        cls = get_strategy(strategy)
        for key in out:
            if key not in cls._param_types:
                raise ValidationError(
                    f"grid.{key}",
                    out[key],
                    f"is not a parameter of {cls.__name__} "
                    f"(parameters: {', '.join(cls._param_types)})",
                )
    return out


def _count(field: str, value: Any) -> int:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not number.is_integer() or number < 1:
        raise ValidationError(field, value, "must be a positive integer")
    return int(number)


def _fraction(field: str, value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and 0 <= number < 1):
        raise ValidationError(field, value, "must be a fraction in [0, 1), e.g. 0.001")
    return number


def _venue_fees(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    from nzeza.domain.fees import schedule

    return schedule(value).venue


def notebook_costs(fee: Any, slippage: Any, fees: Any = None) -> Any:
    """The `Costs` of a notebook's parameters: `fees`' schedule (base tier) when a venue is
    named, else the single rate `fee`."""
    from nzeza.domain import Costs

    venue = _venue_fees(fees)
    if venue is not None:
        return Costs.for_venue(venue, slippage=slippage)
    return Costs(fee, slippage)


def use_parameters(namespace: MutableMapping[str, Any]) -> dict[str, Any]:
    """Check and normalise, in place, the parameters found in a notebook's `namespace`
    (`globals()`); returns the normalised ones so the cell shows what the run uses."""
    out: dict[str, Any] = {}
    strategy = namespace.get("strategy")
    if "strategy" in namespace:
        from nzeza.strategies import get_strategy

        if not isinstance(strategy, str):
            raise ValidationError("strategy", strategy, "must be a strategy name")
        get_strategy(strategy)  # names the known ones when it is not one
        out["strategy"] = strategy
    if "params" in namespace:
        given = namespace["params"]
        out["params"] = (
            strategy_params(strategy, given) if strategy else parse_mapping("params", given)
        )
    if "grid" in namespace:
        out["grid"] = parse_grid(namespace["grid"], strategy)
    for name in COUNTS:
        if name in namespace:
            out[name] = _count(name, namespace[name])
    for name in FRACTIONS:
        if name in namespace:
            out[name] = _fraction(name, namespace[name])
    if "fees" in namespace:
        out["fees"] = _venue_fees(namespace["fees"])
    namespace.update(out)
    return out


__all__ = [
    "notebook_costs",
    "parse_grid",
    "parse_mapping",
    "strategy_params",
    "use_parameters",
]
