"""Parameter sweeps of a strategy traded as a perpetual: every combination through
`backtest_perp` (leverage, funding, liquidation), one after the other with a tqdm bar.

The compiled sweep kernel has no funding or margin, so a perpetual sweep is a loop of the one
perpetual rule (`nzeza.research.perp`): every row is the single `backtest_perp` of its
parameters, and every combination is registered as a trial with the perpetual's terms in its
cost key exactly as `backtest_perp` registers it (`perp_terms`): a sweep row and the single
backtest of the same combination are the same trial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research.perp import PerpSetup

PERP_SWEEP_COLUMNS = ["funding_paid", "funding_received", "liquidations", "max_margin_usage"]


def sweep_perp(
    strategy_cls: type,
    bars: pd.DataFrame,
    grid: Mapping[str, Sequence[Any]],
    perp: PerpSetup,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    constraint: Callable[[dict[str, Any]], bool] | None = None,
    progress: bool = True,
    *,
    ledger: Any = None,
    register: bool = True,
) -> pd.DataFrame:
    """Backtest every valid combination of `grid` as the perpetual `perp` on `bars`.

    Returns params + the sweep statistics (`SWEEP_STATS`, trades, exposure) and the perpetual's
    (funding paid and received, liquidations, max margin usage in %) per combination, sorted by
    Sharpe (ties keep grid order); `attrs` as `sweep`'s. Every combination is registered in
    `ledger` (default: the configured one) in one transaction, its key carrying `perp.terms`;
    `register=False` opts out, with a warning."""
    from tqdm.auto import tqdm

    from nzeza import stats
    from nzeza.research.metrics import SWEEP_STATS
    from nzeza.research.sweep import ranked_table, valid_combos
    from nzeza.research.trials import _sub_evaluation, per_bar_returns, recording
    from nzeza.strategies import is_portfolio

    if not isinstance(perp, PerpSetup):
        raise ValidationError("perp", type(perp).__name__, "must be a PerpSetup")
    if isinstance(strategy_cls, type) and is_portfolio(strategy_cls):
        raise ValidationError(
            "strategy_cls", strategy_cls.__name__, "perpetual sweeps run single-symbol strategies"
        )
    costs = costs or Costs()
    combos, rejected = valid_combos(strategy_cls, grid, constraint)
    if len(bars) < 2:
        raise ValidationError("bars", len(bars), "a sweep needs at least 2 bars")
    columns = [*SWEEP_STATS, "trades", "exposure"]
    extra = PERP_SWEEP_COLUMNS  # backtest_perp names its statistics the same
    rows: list[list[float]] = []
    returns = np.zeros((len(bars), len(combos)), dtype=np.float32)
    sharpes, n_obs, strategies = [], [], []
    rec_args = dict(ledger=ledger, register=register, what="sweep", terms=perp.terms)
    with recording(strategy_cls, bars, costs, init_cash, **rec_args) as recorder:
        bar = tqdm(combos, desc=f"perp sweep {strategy_cls.__name__}", disable=not progress)
        for j, params in enumerate(bar):
            strategy = strategy_cls(**params)
            with _sub_evaluation():  # registered below, once, as this sweep's trial
                result = perp.backtest(strategy, bars, costs, init_cash)
            st = result.stats
            rows.append([float(st[c]) for c in columns + extra])
            equity = result.equity.to_numpy(dtype=np.float64)
            sample = equity[1:] / equity[:-1] - 1.0  # as record_backtest measures a backtest
            sharpes.append(stats.sharpe_ratio(sample))
            n_obs.append(len(sample))
            returns[:, j] = per_bar_returns(equity)
            strategies.append(strategy)
        if recorder.active:
            recorder.add(strategies, returns, sharpes, n_obs)
    table = pd.DataFrame(rows, columns=columns + PERP_SWEEP_COLUMNS)
    for c in ("n_obs", "trades", "liquidations"):
        table[c] = table[c].astype(np.int64)
    return ranked_table(combos, table, rejected, strategy_cls, recorder)[0]


__all__ = ["PERP_SWEEP_COLUMNS", "sweep_perp"]
