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


def target_block(strategies: Sequence[Any], bars: pd.DataFrame, columns: pd.Index) -> pd.DataFrame:
    """`strategy.targets(bars)` of every strategy, one column each, in one float64 block.

    The same values and the same errors as calling `targets` per strategy (`Strategy.targets`:
    a Series on bars.index, float, NaN → 0, within [−1, 1], clipped); for strategies that keep
    the base `targets`, the conversion and checks run once on the whole block instead of once
    per column — per-column pandas calls were a third of a 100-combination sweep's overhead
    over vectorbt. Any failure replays the per-strategy calls, so the first error raised is the
    one the sequential calls raise.
    """
    from nzeza.strategies.base import Strategy

    block = np.empty((len(bars), len(strategies)), order="F")
    plain = np.ones(len(strategies), dtype=bool)  # columns checked here, not by an override
    try:
        for j, strategy in enumerate(strategies):
            if getattr(type(strategy), "targets", None) is not Strategy.targets:
                plain[j] = False
                aligned = pd.DataFrame({0: strategy.targets(bars)}, index=bars.index)[0]
                block[:, j] = aligned.to_numpy(dtype=float)
                continue
            out = strategy.target(bars)
            if not isinstance(out, pd.Series) or not out.index.equals(bars.index):
                raise ValidationError("target", type(out).__name__, "not on bars.index")
            block[:, j] = out.astype(float).to_numpy()
        checked = block if plain.all() else block[:, plain]
        checked[np.isnan(checked)] = 0.0
        if ((checked < -1 - 1e-12) | (checked > 1 + 1e-12)).any():
            raise ValidationError("target", "out of range", "must be within [-1, 1]")
    except Exception:
        for strategy in strategies:  # raises the first error, exactly as the per-column calls
            strategy.targets(bars)
        raise
    np.clip(checked, -1.0, 1.0, out=checked)
    if checked is not block:
        block[:, plain] = checked
    return pd.DataFrame(block, index=bars.index, columns=columns)


def sweep(
    strategy_cls: type,
    bars: pd.DataFrame,
    grid: Mapping[str, Sequence[Any]],
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    constraint: Callable[[dict[str, Any]], bool] | None = None,
    chunk_size: int = 250,
    progress: bool = True,
    *,
    keep_returns: bool = False,
    ledger: Any = None,
    register: bool = True,
) -> pd.DataFrame:
    """Backtest every valid parameter combination; one vectorbt call per chunk of columns.

    Returns params + stats per combination, sorted by Sharpe; `attrs["n_trials"]` is the number
    of combinations actually backtested. Every combination is registered as a trial in `ledger`
    (default: the configured ledger), one transaction per chunk; `attrs["registration"]` says
    what that did to the trial group, whose distinct count is what the deflated Sharpe is told.
    `register=False` opts out, with a warning (see `nzeza.research.trials`).
    With `keep_returns`, `attrs["returns"]` is the float32 n_bars × n_rows matrix of per-bar
    returns (column j: row j of the returned table) and `attrs["index"]` the bars' index.
    """
    from tqdm.auto import tqdm

    from nzeza.research.trials import per_bar_returns, recording, shared

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
    frames, kept = [], []
    bar = tqdm(total=len(combos), desc=f"sweep {strategy_cls.__name__}", disable=not progress)
    rec_args = dict(ledger=ledger, register=register, what="sweep")
    with recording(strategy_cls, bars, costs, init_cash, **rec_args) as recorder:
        for start in range(0, len(combos), chunk_size):
            chunk = combos[start : start + chunk_size]
            columns = pd.Index(list(range(start, start + len(chunk))))
            targets = target_block([s for _, s in chunk], bars, columns)
            pf = run_portfolio(bars, targets, costs, init_cash)
            values = pf.value()
            stats = returns_stats_frame(values, ppy)
            stats["trades"] = pf.trades.closed.count()
            # share of bars held: targets.shift(1).fillna(0) != 0, the first bar never held
            prev = targets.to_numpy()[:-1]
            held = np.count_nonzero((prev != 0) & ~np.isnan(prev), axis=0)
            stats["exposure"] = pd.Series(held / len(targets), index=columns)
            params = pd.DataFrame([p for p, _ in chunk], index=targets.columns)
            frames.append(pd.concat([params, stats], axis=1))
            if recorder.active or keep_returns:
                rets = per_bar_returns(values.to_numpy())
                recorder.add(
                    [s for _, s in chunk], rets, stats["sharpe_per_period"], stats["n_obs"]
                )
                if keep_returns:
                    kept.append(rets)
            bar.update(len(chunk))
            del pf, targets, values
    bar.close()
    out = pd.concat(frames).sort_values("sharpe", ascending=False)
    order = out.index.to_numpy()
    out = out.reset_index(drop=True)
    out.attrs.update(
        {
            "n_trials": len(combos),
            "rejected": rejected,
            "strategy": strategy_cls.__name__,
            "registration": recorder.registration,
            "registered": recorder.registered,
        }
    )
    if keep_returns:
        out.attrs["returns"] = shared(np.concatenate(kept, axis=1)[:, order])
        out.attrs["index"] = bars.index
    return out
