"""Parameter sweeps: every combination through nzeza's compiled kernel, a chunk of columns at a
time (memory is bounded by the chunk, not the grid), in this process or spread over Dask.

Per chunk: the strategies' targets as one 2-D float64 block (bars × combinations), one kernel
call over it (`nzeza.research.kernel.simulate_block`: the backtest rule of
`nzeza.research.backtest`, so every row equals the single backtest of its parameters), then the
statistics from numpy. With `scheduler=` the chunks are tasks on a Dask cluster; they are the
same function on the same inputs, gathered back in chunk order, so the table equals the
single-process one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research.backtest import check_inputs, filled_close, freq_of


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not grid:
        return [{}]
    keys = list(grid)
    for k in keys:
        if not isinstance(grid[k], list | tuple | range | np.ndarray) or len(grid[k]) == 0:
            raise ValidationError(f"grid[{k}]", grid[k], "must be a non-empty list of values")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def target_block(strategies: Sequence[Any], bars: pd.DataFrame) -> np.ndarray:
    """`strategy.targets(bars)` of every strategy, one column each, in one float64 block
    (bars × strategies, column-major).

    The same values and the same errors as calling `targets` per strategy (`Strategy.targets`:
    a Series on bars.index, float, NaN → 0, within [−1, 1], clipped); for strategies that keep
    the base `targets`, the conversion and checks run in numpy on the column instead of in
    pandas — per-column pandas calls were a third of a 100-combination sweep's overhead over
    vectorbt. Any failure replays the per-strategy calls, so the first error raised is the one
    the sequential calls raise.
    """
    from nzeza.strategies.base import Strategy

    block = np.empty((len(bars), len(strategies)), order="F")
    try:
        for j, strategy in enumerate(strategies):
            if getattr(type(strategy), "targets", None) is not Strategy.targets:
                aligned = pd.DataFrame({0: strategy.targets(bars)}, index=bars.index)[0]
                block[:, j] = aligned.to_numpy(dtype=float)
                if np.isinf(block[:, j]).any():  # no order can be sized on an infinite target
                    raise ValidationError("target", "infinite", "must be finite")
                continue
            out = strategy.target(bars)
            if not isinstance(out, pd.Series) or not out.index.equals(bars.index):
                raise ValidationError("target", type(out).__name__, "not on bars.index")
            # the checks of Strategy.targets on one column while it is in cache
            column = out.to_numpy(dtype=np.float64, copy=True)
            np.copyto(column, 0.0, where=np.isnan(column))
            if len(column) and (column.min() < -1 - 1e-12 or column.max() > 1 + 1e-12):
                raise ValidationError("target", "out of range", "must be within [-1, 1]")
            np.clip(column, -1.0, 1.0, out=block[:, j])
    except Exception:
        for strategy in strategies:  # raises the first error, exactly as the per-column calls
            strategy.targets(bars)
        raise
    return block


@dataclass
class ChunkResult:
    """One chunk's statistics (column → one value per combination) and, when asked, its
    per-bar returns (float32, one row per combination, from the second bar on)."""

    stats: dict[str, np.ndarray]
    returns: np.ndarray | None


def sweep_chunk(
    params: list[dict[str, Any]],
    strategy_cls: type,
    bars: pd.DataFrame,
    costs: Costs,
    init_cash: float,
    keep_returns: bool = False,
) -> ChunkResult:
    """Backtest one chunk of parameter sets (a Dask task, or a step of the local loop)."""
    from nzeza.research.kernel import compiled
    from nzeza.research.metrics import block_stats, periods_per_year

    targets = target_block([strategy_cls(**p) for p in params], bars)
    n, k = targets.shape
    open_ = bars["open"].to_numpy(dtype=np.float64)
    close = bars["close"].to_numpy(dtype=np.float64)
    returns = np.empty((k, max(n - 1, 0)))
    first, final, max_dd, skew, kurt = (np.empty(k) for _ in range(5))
    closed, held = np.empty(k, np.int64), np.empty(k, np.int64)
    compiled()(
        targets.T, open_, filled_close(close), float(close[-1]), costs.fee, costs.slippage,
        float(init_cash), returns, final, first, max_dd, closed, held, skew, kurt,
    )  # fmt: skip
    years = max((bars.index[-1] - bars.index[0]) / pd.Timedelta(days=365), 1e-9)
    ppy = periods_per_year(freq_of(bars.index))
    stats = block_stats(returns, first, final, max_dd, skew, kurt, years, ppy)
    stats["trades"] = closed
    stats["exposure"] = held / n  # share of bars in a position (the first bar never is)
    # float32 rows as computed (a cheap cast, half the bytes to send from a worker); the one
    # transposition happens where they are gathered
    return ChunkResult(stats, returns.astype(np.float32) if keep_returns else None)


class SharedReturns(np.ndarray):
    """A read-only float32 array that pandas shares instead of copying: `DataFrame.attrs` are
    deep-copied into every frame derived from the table (`head`, a column selection…), which
    for a 10,000-combination sweep would copy 1.3 GB each time."""

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> SharedReturns:
        return self


def check_grid(strategy_cls: Any, grid: Any) -> None:
    """A class (not an instance) and a grid whose keys are its parameters: else one error
    naming the wrong key and listing the valid ones."""
    if not isinstance(strategy_cls, type):
        raise ValidationError(
            "strategy_cls",
            strategy_cls,
            f"pass the class (e.g. {type(strategy_cls).__name__}), not an instance: a sweep "
            "builds one instance per parameter combination",
        )
    if not isinstance(grid, Mapping) or not grid:
        raise ValidationError("grid", grid, "must be a non-empty mapping of parameter → values")
    from nzeza.research.metrics import SWEEP_STATS

    columns = {*SWEEP_STATS, "trades", "exposure"}  # the sweep table's own columns
    for key in grid if isinstance(grid, Mapping) else ():
        if key in columns:
            raise ValidationError(
                f"grid[{key}]",
                key,
                "is also a column of the sweep's results "
                f"({', '.join(sorted(columns))}); rename the parameter",
            )
    known = getattr(strategy_cls, "_param_types", None)
    if known:
        for key, values in grid.items():
            if key not in known:
                raise ValidationError(
                    f"grid[{key}]",
                    key,
                    f"is not a parameter of {strategy_cls.__name__}; valid keys: "
                    f"{', '.join(known)}",
                )
            if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
                raise ValidationError(f"grid[{key}]", values, "must be a list of values")


def valid_combos(
    strategy_cls: type,
    grid: Mapping[str, Sequence[Any]],
    constraint: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The grid checked (`check_grid`) and expanded: the combinations that pass `constraint`
    and build a valid strategy, and how many did not (none valid: a `ValidationError` naming
    the first refused)."""
    check_grid(strategy_cls, grid)
    combos, rejected, first_reason = [], 0, None
    for params in expand_grid(grid):
        if constraint is not None and not constraint(params):
            rejected += 1
            first_reason = first_reason or f"{params} fails the constraint"
            continue
        try:
            strategy_cls(**params)
        except ValidationError as exc:
            rejected += 1
            first_reason = first_reason or f"{params}: {exc}"
            continue
        combos.append(params)
    if not combos:
        raise ValidationError(
            "grid", dict(grid), f"no valid parameter combination (first refused: {first_reason})"
        )
    return combos, rejected


def _validate(chunk_size: int, bars: pd.DataFrame) -> None:
    from nzeza.data.checks import check_bars

    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValidationError("chunk_size", chunk_size, "must be a positive integer")
    if len(bars) < 2:
        raise ValidationError("bars", len(bars), "a sweep needs at least 2 bars")
    check_bars(bars)


def ranked_table(
    combos: list[dict[str, Any]], stats: pd.DataFrame, rejected: int, cls: type, recorder: Any
) -> tuple[pd.DataFrame, np.ndarray]:
    """The sweep table: each combination's parameters and statistics, best Sharpe first (ties
    keep the grid's order), with what the registry made of it in `attrs`; and that order (the
    grid position of each row)."""
    table = pd.concat([pd.DataFrame(combos), stats], axis=1)
    order = np.argsort(-table["sharpe"].to_numpy(), kind="stable")
    out = table.iloc[order].reset_index(drop=True)
    out.attrs.update(
        {
            "n_trials": len(combos),
            "rejected": rejected,
            "strategy": cls.__name__,
            "registration": recorder.registration,
            "registered": recorder.registered,
        }
    )
    return out, order


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
    scheduler: Any = None,
    workers: int | None = None,
    keep_returns: bool = False,
    ledger: Any = None,
    register: bool = True,
    orders: Any = None,
) -> pd.DataFrame:
    """Backtest every valid parameter combination, `chunk_size` combinations per kernel call.

    Returns params + stats per combination, sorted by Sharpe (stable: ties keep grid order);
    `attrs["n_trials"]` is the number of combinations actually backtested. Every combination is
    registered as a trial in `ledger` (default: the configured ledger), one transaction per
    chunk; `attrs["registration"]` says what that did to the trial group, whose distinct count
    is what the deflated Sharpe is told; `register=False` opts out, with a warning (see
    `nzeza.research.trials`). `scheduler`: None (this process), "processes" (a local Dask
    cluster of `workers` processes) or a Dask scheduler address ("tcp://host:8786") or Client;
    the result is the same. `keep_returns`: also `attrs["returns"]`, the per-bar returns of every
    row (float32, bars × rows, C-contiguous, column j = row j, first bar 0.0), and
    `attrs["index"]`, the bars' index.

    `orders` (an `OrderPolicy`; default: the class's own `orders`, else market): a limit,
    post-only or stop policy runs each combination through the order simulator
    (`backtest(..., orders=...)`, one combination at a time in this process — the compiled
    kernel runs market orders), so each row equals that backtest; its trials carry the policy
    in their cost key, as a backtest's do.
    """
    from tqdm.auto import tqdm

    from nzeza.research.distributed import run_chunks
    from nzeza.research.trials import recording
    from nzeza.strategies import is_portfolio

    if isinstance(strategy_cls, type) and is_portfolio(strategy_cls):
        raise ValidationError(
            "strategy_cls",
            strategy_cls.__name__,
            "is a portfolio strategy: sweep it on a panel with "
            "nzeza.research.portfolio.sweep_portfolio",
        )
    from nzeza.research.orders import policy_of

    policy = policy_of(strategy_cls, orders)
    costs = costs or Costs()
    if not policy.is_market:
        if scheduler is not None:
            raise ValidationError(
                "scheduler", scheduler, f"a {policy.kind} sweep runs in this process"
            )
        return _sweep_orders(
            strategy_cls, bars, grid, costs, init_cash, constraint, progress, policy,
            keep_returns=keep_returns, ledger=ledger, register=register,
        )  # fmt: skip
    combos, rejected = valid_combos(strategy_cls, grid, constraint)
    n = len(bars)
    _validate(chunk_size, bars)
    check_inputs(np.zeros(0), bars["open"].to_numpy(dtype=np.float64), bars.index, init_cash)
    chunks = [combos[s : s + chunk_size] for s in range(0, len(combos), chunk_size)]
    starts = np.cumsum([0] + [len(c) for c in chunks])
    returns = None
    if keep_returns:
        returns = np.empty((n, len(combos)), dtype=np.float32)
        returns[0] = 0.0  # the first bar has no return
    parts: list[dict[str, np.ndarray] | None] = [None] * len(chunks)
    bar = tqdm(total=len(combos), desc=f"sweep {strategy_cls.__name__}", disable=not progress)
    rec_args = dict(ledger=ledger, register=register, what="sweep")
    with recording(strategy_cls, bars, costs, init_cash, **rec_args) as recorder:
        want_returns = keep_returns or recorder.active
        try:
            for i, result in run_chunks(
                sweep_chunk,
                chunks,
                (strategy_cls, bars, costs, init_cash, want_returns),
                scheduler=scheduler,
                workers=workers,
            ):
                parts[i] = result.stats
                if result.returns is not None:
                    if returns is not None:
                        returns[1:, starts[i] : starts[i + 1]] = result.returns.T
                    if recorder.active:
                        _register_chunk(recorder, strategy_cls, chunks[i], result, n)
                bar.update(len(chunks[i]))
        finally:
            bar.close()
    stats = {c: np.concatenate([p[c] for p in parts if p is not None]) for c in parts[0] or {}}
    out, order = ranked_table(combos, pd.DataFrame(stats), rejected, strategy_cls, recorder)
    if returns is not None:
        _permute_columns(returns, order)
        returns.flags.writeable = False
        out.attrs["returns"] = returns.view(SharedReturns)
        out.attrs["index"] = bars.index
    return out


def _sweep_orders(
    strategy_cls: type,
    bars: pd.DataFrame,
    grid: Mapping[str, Sequence[Any]],
    costs: Costs,
    init_cash: float,
    constraint: Callable[[dict[str, Any]], bool] | None,
    progress: bool,
    policy: Any,
    *,
    keep_returns: bool,
    ledger: Any,
    register: bool,
) -> pd.DataFrame:
    """`sweep` of a limit, post-only or stop policy: one order-simulator backtest per
    combination (`run_unchecked`, the bars checked once), the table's statistics read from
    each run's own `stats`; registered with the policy in the trials' cost key."""
    from tqdm.auto import tqdm

    from nzeza.research.backtest import run_unchecked
    from nzeza.research.metrics import SWEEP_STATS
    from nzeza.research.trials import per_bar_returns, recording

    combos, rejected = valid_combos(strategy_cls, grid, constraint)
    n = len(bars)
    _validate(1, bars)
    columns = [*SWEEP_STATS, "trades", "exposure"]
    rows: list[list[Any]] = []
    strategies: list[Any] = []
    returns = np.zeros((n, len(combos)), dtype=np.float32)
    rec_args = dict(ledger=ledger, register=register, what="sweep", orders=policy)
    with recording(strategy_cls, bars, costs, init_cash, **rec_args) as recorder:
        for j, params in enumerate(
            tqdm(combos, desc=f"sweep {strategy_cls.__name__} ({policy.kind} orders)",
                 disable=not progress)
        ):  # fmt: skip
            strategy = strategy_cls(**params)
            result = run_unchecked(strategy, bars, costs, init_cash, orders=policy)
            stats = result.stats
            rows.append([stats[c] for c in columns])
            equity = result.equity.to_numpy(dtype=np.float64)
            returns[:, j] = per_bar_returns(equity)
            strategies.append(strategy)
        if recorder.active:  # every combination, one transaction
            recorder.add(
                strategies, returns, [r[columns.index("sharpe_per_period")] for r in rows],
                [r[columns.index("n_obs")] for r in rows],
            )  # fmt: skip
    table = pd.DataFrame(rows, columns=columns)
    table["n_obs"] = table["n_obs"].astype(np.int64)
    table["trades"] = table["trades"].astype(np.int64)
    out, order = ranked_table(combos, table, rejected, strategy_cls, recorder)
    out.attrs["orders"] = policy.record()
    if keep_returns:
        kept = np.ascontiguousarray(returns[:, order])
        kept.flags.writeable = False
        out.attrs["returns"] = kept.view(SharedReturns)
        out.attrs["index"] = bars.index
    return out


def _register_chunk(
    recorder: Any, strategy_cls: type, params: list[dict[str, Any]], result: Any, n: int
) -> None:
    """One chunk's trials into the registry (one transaction): the returns as stored there,
    float32 bars × k with the first bar 0.0 and any non-finite value 0.0."""
    rets = np.zeros((n, len(params)), dtype=np.float32)
    rets[1:] = np.nan_to_num(result.returns.T, nan=0.0, posinf=0.0, neginf=0.0)
    strategies = [strategy_cls(**p) for p in params]
    recorder.add(strategies, rets, result.stats["sharpe_per_period"], result.stats["n_obs"])


def _permute_columns(a: np.ndarray, order: np.ndarray, rows: int = 1024) -> None:
    """a[:, j] ← a[:, order[j]] in place, a block of rows at a time (bounded extra memory)."""
    for start in range(0, a.shape[0], rows):
        a[start : start + rows] = a[start : start + rows][:, order]


__all__ = [
    "ChunkResult",
    "SharedReturns",
    "check_grid",
    "expand_grid",
    "sweep",
    "sweep_chunk",
    "target_block",
    "valid_combos",
]
