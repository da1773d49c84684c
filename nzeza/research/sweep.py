"""Parameter sweeps: every combination in vectorbt parameter columns, chunked for memory."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research.backtest import freq_of, run_portfolio
from nzeza.research.metrics import periods_per_year, returns_stats_frame


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not grid:
        return [{}]
    keys = list(grid)
    for k in keys:
        if not isinstance(grid[k], list | tuple | range | np.ndarray) or len(grid[k]) == 0:
            raise ValidationError(f"grid[{k}]", grid[k], "must be a non-empty list of values")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def sweep(
    strategy_cls: type,
    bars: pd.DataFrame,
    grid: Mapping[str, Sequence[Any]],
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    constraint: Callable[[dict[str, Any]], bool] | None = None,
    chunk_size: int = 250,
    progress: bool = True,
) -> pd.DataFrame:
    """Backtest every valid parameter combination; one vectorbt call per chunk of columns.

    Returns params + stats per combination, sorted by Sharpe; `attrs["n_trials"]` is the number
    of combinations actually backtested (what the deflated Sharpe must be told).
    """
    from tqdm.auto import tqdm

    costs = costs or Costs()
    combos, rejected = [], 0
    for params in expand_grid(grid):
        if constraint is not None and not constraint(params):
            rejected += 1
            continue
        try:
            combos.append((params, strategy_cls(**params)))
        except ValidationError:
            rejected += 1
    if not combos:
        raise ValidationError("grid", dict(grid), "no valid parameter combination")
    ppy = periods_per_year(freq_of(bars.index))
    frames = []
    bar = tqdm(total=len(combos), desc=f"sweep {strategy_cls.__name__}", disable=not progress)
    for start in range(0, len(combos), chunk_size):
        chunk = combos[start : start + chunk_size]
        targets = pd.DataFrame(
            {i: s.targets(bars) for i, (_, s) in enumerate(chunk, start)}, index=bars.index
        )
        pf = run_portfolio(bars, targets, costs, init_cash)
        stats = returns_stats_frame(pf.value(), ppy)
        stats["trades"] = pf.trades.closed.count()
        stats["exposure"] = (targets.shift(1).fillna(0.0) != 0).mean()
        params = pd.DataFrame([p for p, _ in chunk], index=targets.columns)
        frames.append(pd.concat([params, stats], axis=1))
        bar.update(len(chunk))
        del pf, targets
    bar.close()
    out = pd.concat(frames).sort_values("sharpe", ascending=False).reset_index(drop=True)
    out.attrs.update(
        {"n_trials": len(combos), "rejected": rejected, "strategy": strategy_cls.__name__}
    )
    return out
