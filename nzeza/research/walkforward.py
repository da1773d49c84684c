"""Walk-forward validation: choose parameters on each training window, trade them on the next
test window, and judge only the stitched out-of-sample result.

Every combination of the grid is registered once as a trial on the whole data set (source
"validate"): that group — with everything tried on these bars before — is what the verdict
counts, deflates by and runs PBO and CPCV over. The fold sweeps and out-of-sample backtests are
sub-period evaluations of those same combinations and are not registered again.

A portfolio strategy (a `PortfolioStrategy` class) walks forward on a panel the same way: its
sweeps are `sweep_portfolio`, its out-of-sample runs `backtest_portfolio` (shared cash), each
window's panel holds the symbols that have bars in it, and the grid is registered on the whole
panel (the group of its backtests and sweeps: family, panel fingerprint, timeframe)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research.backtest import backtest, freq_of
from nzeza.research.metrics import periods_per_year
from nzeza.research.portfolio import backtest_portfolio, check_panel, panel_window, sweep_portfolio
from nzeza.research.sweep import sweep
from nzeza.research.trials import (
    UnregisteredRunWarning,
    _as_source,
    _sub_evaluation,
    using_ledger,
)
from nzeza.research.verdict import Verdict, VerdictPolicy, verdict
from nzeza.strategies import is_portfolio


@dataclass
class WalkForwardResult:
    windows: pd.DataFrame  # one row per window: ranges, chosen params, in- and out-of-sample
    returns: pd.Series  # stitched out-of-sample per-bar returns
    stressed_returns: pd.Series  # the same at stressed costs
    equity: pd.Series
    trades: int
    n_trials: int  # distinct trials of the registry group the verdict counted
    var_trials: float  # variance of their per-period Sharpe ratios
    verdict: Verdict | None = None  # None when the run was not registered
    stats: dict[str, float] = field(default_factory=dict)
    combinations: int = 0  # valid combinations of the grid (swept in every window)
    registration: Any = None  # what registering the grid did to its group

    @property
    def judged(self) -> Verdict:
        """The verdict; a `ValidationError` for a run that was not registered (none to read)."""
        if self.verdict is None:
            raise ValidationError(
                "register", False, "an unregistered walk-forward has no verdict (register=True)"
            )
        return self.verdict


def _oos(
    strategy: Any,
    bars: pd.DataFrame,
    test_start: int,
    test_end: int,
    costs: Costs,
    init_cash: float,
    perp: Any = None,
    perp_out: dict[str, float] | None = None,
    orders: Any = None,
) -> tuple[pd.Series, int]:
    """Returns on bars[test_start:test_end] of a backtest that saw the warm-up before it (as
    the perpetual `perp` when given: funding and liquidations are in the returns, and their
    totals in the test window are added to `perp_out`)."""
    lead = max(int(getattr(strategy, "warmup", 1)), 1)
    res: Any
    if perp is not None:
        seg = bars.iloc[max(0, test_start - lead) : test_end]
        res = perp.backtest(strategy, seg, costs, init_cash)
        if perp_out is not None:
            first = bars.index[test_start]
            fund = res.funding[res.funding.index >= first]
            liq = res.liquidations
            perp_out["funding"] = perp_out.get("funding", 0.0) + float(fund.sum())
            perp_out["liquidations"] = perp_out.get("liquidations", 0) + int(
                (liq["time"] >= first).sum()
            )
    elif is_portfolio(strategy):
        seg = panel_window(bars, max(0, test_start - lead), test_end)
        res = backtest_portfolio(strategy, seg, costs, init_cash)
    else:
        seg = bars.iloc[max(0, test_start - lead) : test_end]
        res = backtest(strategy, seg, costs, init_cash, orders=orders)
    rets = res.equity.pct_change().iloc[-(test_end - test_start) :]
    test_idx = bars.index[test_start:test_end]
    trades = res.trades
    n = int(((trades["entry_time"] >= test_idx[0]) & (trades["status"] == "closed")).sum())
    return rets.fillna(0.0), n


def walk_forward(
    strategy_cls: type,
    bars: pd.DataFrame,
    grid: Mapping[str, Sequence[Any]],
    train: int,
    test: int,
    step: int | None = None,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    objective: str = "sharpe",
    policy: VerdictPolicy | None = None,
    progress: bool = True,
    *,
    ledger: Any = None,
    register: bool = True,
    perp: Any = None,
    orders: Any = None,
) -> WalkForwardResult:
    """`train`/`test`/`step` are bar counts. Objective: the sweep column maximised in-sample.

    `perp` (a `research.perp.PerpSetup`): trade the strategy as that perpetual, every sweep
    and out-of-sample run through `backtest_perp` (funding and liquidations in the returns; the
    windows gain `oos_funding` and `oos_liquidations`), its trials keyed by its terms.

    The grid is registered in `ledger` (default: the configured ledger) and the verdict is
    recorded there. `register=False` runs the walk-forward without either (announced with an
    UnregisteredRunWarning): its result has no verdict. `orders` (an `OrderPolicy`; default:
    the class's own, else market): every sweep, out-of-sample backtest and the verdict's
    evidence run that policy (its trials are their own group's cost key)."""
    from nzeza.data.checks import check_bars

    if is_portfolio(strategy_cls):
        if perp is not None:
            raise ValidationError("perp", perp.spec.venue, "portfolio strategies trade spot")
        check_panel(bars)
    else:
        check_bars(bars)
    costs = costs or Costs()
    policy = policy or VerdictPolicy()
    from nzeza.research.orders import policy_of

    order_policy = policy_of(strategy_cls, orders)
    if perp is not None and not order_policy.is_market:
        raise ValidationError(
            "orders", order_policy.kind, "perpetual walk-forwards run market orders only"
        )
    if is_portfolio(strategy_cls) and not order_policy.is_market:
        raise ValidationError(
            "orders", order_policy.kind, "portfolio walk-forwards run market orders only"
        )
    wf_orders = None if order_policy.is_market else order_policy
    step = step or test
    if train < 50 or test < 10 or train + test > len(bars):
        raise ValidationError(
            "train", train, f"need train >= 50, test >= 10 and train + test <= {len(bars)} bars"
        )
    if not register:
        warnings.warn(
            f"walk-forward of {strategy_cls.__name__} is not registered in the trial registry "
            "(register=False): it gets no verdict",
            UnregisteredRunWarning,
            stacklevel=2,
        )
    with using_ledger(ledger) if register else nullcontext(None) as led:
        return _walk_forward(
            strategy_cls, bars, grid, train, test, step, costs, init_cash, objective, policy, led,
            progress, perp, wf_orders,
        )  # fmt: skip


def _walk_forward(
    strategy_cls: type,
    bars: pd.DataFrame,
    grid: Mapping[str, Sequence[Any]],
    train: int,
    test: int,
    step: int,
    costs: Costs,
    init_cash: float,
    objective: str,
    policy: VerdictPolicy,
    ledger: Any,
    progress: bool = False,
    perp: Any = None,
    orders: Any = None,
) -> WalkForwardResult:
    from tqdm.auto import tqdm

    portfolio = is_portfolio(strategy_cls)
    run_sweep: Any = sweep_portfolio if portfolio else sweep
    if perp is not None:
        from nzeza.research.perp_sweep import sweep_perp

        def run_sweep(cls: type, b: pd.DataFrame, g: Any, c: Costs, cash: float, **kw: Any):
            return sweep_perp(cls, b, g, perp, c, cash, **kw)

    elif orders is not None:  # a limit, post-only or stop policy (never a portfolio)
        run_sweep = partial(sweep, orders=orders)
    registration = None
    if ledger is not None:  # every combination, once, on the whole data set
        with _as_source("validate"):
            full = run_sweep(
                strategy_cls, bars, grid, costs, init_cash, progress=False, ledger=ledger
            )
        registration = full.attrs["registration"]
    stressed = costs.scaled(policy.cost_stress)
    rows, parts, stress_parts, trades, sr_vars, n_trials = [], [], [], 0, [], 0
    starts = range(0, len(bars) - train - test + 1, step)
    steps = tqdm(
        starts, desc=f"walk-forward {strategy_cls.__name__}", unit="window", disable=not progress
    )
    for k, s0 in enumerate(steps):
        tr = panel_window(bars, s0, s0 + train) if portfolio else bars.iloc[s0 : s0 + train]
        with _sub_evaluation():
            table = run_sweep(strategy_cls, tr, grid, costs, init_cash, progress=False)
        n_trials = table.attrs["n_trials"]
        sr_vars.append(float(np.var(table["sharpe_per_period"], ddof=1)) if len(table) > 1 else 0.0)
        best = table.sort_values(objective, ascending=False).iloc[0]
        params = {key: best[key] for key in grid}
        params = {key: (v.item() if hasattr(v, "item") else v) for key, v in params.items()}
        strat = strategy_cls(**params)
        # as the strategy took them (a table row is all floats: `lookback 180.0` read as 180)
        params = {key: strat.params[key] for key in grid}
        t0, t1 = s0 + train, min(s0 + train + test, len(bars))
        held: dict[str, float] = {}
        with _sub_evaluation():
            rets, n = _oos(strat, bars, t0, t1, costs, init_cash, perp, held, orders)
            srets, _ = _oos(strat, bars, t0, t1, stressed, init_cash, perp, None, orders)
        parts.append(rets)
        stress_parts.append(srets)
        trades += n
        rows.append(
            {
                "window": k,
                "train_start": tr.index[0],
                "test_start": bars.index[t0],
                "test_end": bars.index[t1 - 1],
                **params,
                "in_sample_" + objective: float(best[objective]),
                "oos_return": float((1 + rets).prod() - 1),
                "oos_trades": n,
                **(
                    {}
                    if perp is None
                    else {
                        "oos_funding": held.get("funding", 0.0),
                        "oos_liquidations": int(held.get("liquidations", 0)),
                    }
                ),
            }
        )
    returns = pd.concat(parts)
    returns = returns[~returns.index.duplicated(keep="last")]
    stressed_returns = pd.concat(stress_parts)
    stressed_returns = stressed_returns[~stressed_returns.index.duplicated(keep="last")]
    equity = init_cash * (1 + returns).cumprod()
    result = WalkForwardResult(
        pd.DataFrame(rows),
        returns,
        stressed_returns,
        equity,
        trades,
        n_trials,
        float(np.mean(sr_vars)) if sr_vars else 0.0,
        combinations=n_trials,
        registration=registration,
    )
    ppy = periods_per_year(freq_of(bars.index))
    from nzeza import stats

    stressed_sr = stats.sharpe_ratio(stressed_returns, ppy)
    result.stats = {
        "oos_sharpe": stats.sharpe_ratio(returns, ppy),
        "oos_total_return": float(equity.iloc[-1] / init_cash - 1),
        "oos_max_drawdown": stats.max_drawdown(equity),
        "windows": len(rows),
        "stressed_sharpe": stressed_sr,
    }
    if ledger is None:
        return result
    last = rows[-1]
    if progress:  # the statistics (PBO by CSCV, CPCV) take a few seconds more
        print("verdict: deflated Sharpe, PBO (CSCV), CPCV ...", file=sys.stderr, flush=True)
    result.verdict = verdict(
        strategy=strategy_cls(**{k: last[k] for k in grid}),
        bars=bars,
        costs=costs,
        init_cash=init_cash,
        oos_returns=returns,
        oos_trades=trades,
        stressed_sharpe=stressed_sr,
        periods_per_year=ppy,
        policy=policy,
        ledger=ledger,
        terms=None if perp is None else perp.terms,
        orders=orders,
    )
    result.n_trials = result.verdict.metrics["n_trials"]
    result.var_trials = result.verdict.metrics["var_trials"]
    return result


__all__ = [
    "WalkForwardResult",
    "walk_forward",
]
