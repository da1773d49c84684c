"""KILL / ITERATE / SCALE, from out-of-sample evidence and every trial the registry holds.

The selection statistics come from the trial registry, never from the caller: the number of
**distinct trials in the group** (strategy family, data set, timeframe) and the variance of
their Sharpe ratios deflate the Sharpe ratio (a grid of one after a sweep is deflated by the
whole sweep); PBO (CSCV) and CPCV run over the per-bar returns of all of them. A configuration
that is not itself a registered trial of the group gets no verdict, so a run with
`register=False` can never feed one.

Rules and defaults (all in `VerdictPolicy`):
- `scale_dsr=0.95`: SCALE needs 95% confidence that the out-of-sample Sharpe is skill and not
  the best of the group's trials (deflated Sharpe, Bailey & López de Prado 2014);
- `kill_dsr=0.50`: below even odds the selected result is indistinguishable from luck: KILL;
- an out-of-sample Sharpe at or below zero is KILL whatever else holds;
- `max_pbo=0.2`: SCALE needs the probability of backtest overfitting of the group below 0.2
  (CSCV over `pbo_blocks=16` blocks); at or above it: ITERATE. A group of one trial cannot be
  tested for overfitting: ITERATE, saying so;
- CPCV (`cpcv_folds=12`, `cpcv_test_folds=3`: 220 splits, 55 paths; purge `cpcv_purge=1` bar;
  embargo `cpcv_embargo=1%` of the bars after each test fold, AFML's suggestion): SCALE needs
  the `cpcv_quantile=0.05` quantile of the out-of-sample path Sharpe ratios above 0 — selecting
  in-sample winners of this family must make money on at least 95% of the recombined paths;
- `min_trades=30`: fewer closed out-of-sample trades cannot support any statistic: ITERATE;
- `min_trl_prob=0.95`: the history must be at least the minimum track record length at which
  the observed Sharpe beats 0 with that confidence; shorter: ITERATE;
- `max_drawdown=0.35`: a strategy that lost more than a third from a peak cannot be scaled;
- at `cost_stress`× fees and slippage (default 2) the out-of-sample Sharpe must stay positive.

Every verdict is a row of the ledger's `verdicts` table (with its reasons, metrics at full
precision, the policy applied, the group and the strategy identity): that row is the only
evidence the promotion gate reads. "Newest" is the ledger's insertion order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nzeza import __version__, stats
from nzeza.errors import ValidationError
from nzeza.research.trials import (
    costs_json,
    data_fingerprint,
    timeframe_of,
    using_ledger,
)


@dataclass(frozen=True)
class VerdictPolicy:
    scale_dsr: float = 0.95
    kill_dsr: float = 0.50
    min_trades: int = 30
    min_trl_prob: float = 0.95
    max_drawdown: float = 0.35
    cost_stress: float = 2.0
    max_pbo: float = 0.2
    pbo_blocks: int = 16
    cpcv_folds: int = 12
    cpcv_test_folds: int = 3
    cpcv_purge: int = 1
    cpcv_embargo: float = 0.01
    cpcv_quantile: float = 0.05


@dataclass
class Verdict:
    decision: str  # KILL | ITERATE | SCALE
    reasons: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # the ledger's verdicts.id once recorded

    def __str__(self) -> str:
        lines = [f"VERDICT: {self.decision}", *(f"  - {r}" for r in self.reasons)]
        if self.id is not None:
            lines.append(f"  (ledger verdict #{self.id})")
        return "\n".join(lines)


@dataclass
class Evidence:
    """What the registry holds for one trial group, as the verdict uses it."""

    group: Any  # nzeza.store.trials.TrialGroup
    n_trials: int  # distinct trials
    var_trials: float  # variance of their per-period Sharpe ratios (ddof=1)
    pbo: stats.PBOResult | None = None
    pbo_note: str = ""  # why there is no PBO
    cpcv: stats.CPCVResult | None = None
    cpcv_note: str = ""
    trial_ids: list[int] = field(default_factory=list)


def group_evidence(
    ledger: Any, group: Any, policy: VerdictPolicy, costs: str | None = None
) -> Evidence:
    """Distinct trials of `group` (at `costs` where a trial has several), their Sharpe variance,
    PBO and CPCV over their per-bar returns."""
    from nzeza.store.trials import distinct_trials, group_rows, load_returns

    rows = distinct_trials(group_rows(ledger, group), costs)
    sharpes = np.array([r["sharpe"] for r in rows], dtype=float)
    ev = Evidence(
        group,
        len(rows),
        float(np.var(sharpes, ddof=1)) if len(rows) > 1 else 0.0,
        trial_ids=[int(r["id"]) for r in rows],
    )
    if not rows:
        return ev
    returns = load_returns(ledger, rows)
    if len(rows) < 2:
        ev.pbo_note = (
            f"the group has {len(rows)} distinct trial: PBO needs at least 2 to measure how "
            "often the in-sample best fails out of sample"
        )
    else:
        try:
            ev.pbo = stats.pbo(returns, policy.pbo_blocks)
        except ValidationError as exc:
            ev.pbo_note = f"PBO not computable: {exc.reason}"
    try:
        embargo = math.ceil(policy.cpcv_embargo * len(returns))
        ev.cpcv = stats.cpcv(
            returns, policy.cpcv_folds, policy.cpcv_test_folds, policy.cpcv_purge, embargo
        )
    except ValidationError as exc:
        ev.cpcv_note = f"CPCV not computable: {exc.reason}"
    return ev


def decide(
    *,
    oos_returns: pd.Series,
    oos_trades: int,
    stressed_sharpe: float,
    periods_per_year: float,
    evidence: Evidence,
    policy: VerdictPolicy | None = None,
) -> Verdict:
    """The decision and its reasons from out-of-sample returns and the group's evidence."""
    p = policy or VerdictPolicy()
    r = oos_returns.dropna()
    n = len(r)
    n_trials = max(evidence.n_trials, 1)
    var_trials = max(evidence.var_trials, 1e-12)
    sr = stats.sharpe_ratio(r)
    skew, kurt = stats.moments(r)
    ann = math.sqrt(periods_per_year)
    dsr = stats.deflated_sharpe_ratio(sr, n_trials, var_trials, n, skew, kurt)
    emax = stats.expected_max_sharpe(n_trials, var_trials)
    mintrl = stats.min_track_record_length(sr, 0.0, skew, kurt, p.min_trl_prob)
    equity = (1 + r).cumprod()
    mdd = stats.max_drawdown(np.concatenate([[1.0], equity.to_numpy()]))
    cv = evidence.cpcv
    cpcv_q = cv.quantile(p.cpcv_quantile) * ann if cv is not None else None
    m: dict[str, Any] = {
        "oos_sharpe_annual": sr * ann,
        "oos_sharpe_per_period": sr,
        "n_obs": n,
        "skew": skew,
        "kurtosis": kurt,
        "n_trials": evidence.n_trials,
        "var_trials": evidence.var_trials,
        "expected_max_sharpe_annual": emax * ann,
        "deflated_sharpe": dsr,
        "min_track_record_length": mintrl,
        "max_drawdown": mdd,
        "oos_trades": oos_trades,
        "stressed_sharpe_annual": stressed_sharpe,
        "oos_total_return": float(equity.iloc[-1] - 1) if n else 0.0,
        "pbo": evidence.pbo.pbo if evidence.pbo is not None else None,
        "pbo_combinations": evidence.pbo.n_combinations if evidence.pbo is not None else None,
        "cpcv_paths": cv.n_paths if cv is not None else None,
        "cpcv_quantile": p.cpcv_quantile,
        "cpcv_quantile_sharpe_annual": cpcv_q,
        "cpcv_median_sharpe_annual": cv.quantile(0.5) * ann if cv is not None else None,
        "group": {
            "family": evidence.group.family,
            "dataset": evidence.group.dataset,
            "timeframe": evidence.group.timeframe,
        },
    }
    trials_said = f"{evidence.n_trials} registered trial(s) of {evidence.group.family} on data"
    trials_said += f" {evidence.group.dataset} ({evidence.group.timeframe})"
    kill, iterate, ok = [], [], []
    if sr <= 0:
        kill.append(f"out-of-sample Sharpe is {sr * ann:.2f} (annualised): no edge after costs")
    if dsr < p.kill_dsr:
        kill.append(
            f"deflated Sharpe {dsr:.2f} < {p.kill_dsr}: with {trials_said} the expected best "
            f"Sharpe from luck alone is {emax * ann:.2f}, above or near what was found"
        )
    elif dsr < p.scale_dsr:
        iterate.append(
            f"deflated Sharpe {dsr:.2f} < {p.scale_dsr}: not yet distinguishable from the best "
            f"of {trials_said}"
        )
    else:
        ok.append(f"deflated Sharpe {dsr:.2f} ≥ {p.scale_dsr} over {trials_said}")
    if evidence.pbo is None:
        iterate.append(f"overfitting not measurable: {evidence.pbo_note}")
    elif evidence.pbo.pbo >= p.max_pbo:
        iterate.append(
            f"probability of backtest overfitting {evidence.pbo.pbo:.2f} ≥ {p.max_pbo} "
            f"(CSCV, {evidence.pbo.n_combinations:,} splits of {evidence.n_trials} trials): "
            "the in-sample best too often lands at or below the out-of-sample median"
        )
    else:
        ok.append(
            f"probability of backtest overfitting {evidence.pbo.pbo:.2f} < {p.max_pbo} "
            f"(CSCV, {evidence.pbo.n_combinations:,} splits)"
        )
    if cv is None or cpcv_q is None:
        iterate.append(f"no out-of-sample distribution: {evidence.cpcv_note}")
    elif cpcv_q <= 0:
        iterate.append(
            f"CPCV: the {p.cpcv_quantile:.0%} quantile of out-of-sample Sharpe over "
            f"{cv.n_paths} paths is {cpcv_q:.2f} (annualised) ≤ 0"
        )
    else:
        ok.append(
            f"CPCV: the {p.cpcv_quantile:.0%} quantile of out-of-sample Sharpe over "
            f"{cv.n_paths} paths is {cpcv_q:.2f} (annualised) > 0"
        )
    if oos_trades < p.min_trades:
        iterate.append(f"only {oos_trades} out-of-sample trades (< {p.min_trades})")
    else:
        ok.append(f"{oos_trades} out-of-sample trades (≥ {p.min_trades})")
    if math.isinf(mintrl) or n < mintrl:
        need = "∞" if math.isinf(mintrl) else f"{mintrl:,.0f}"
        iterate.append(
            f"history of {n:,} bars is shorter than the minimum track record length "
            f"{need} bars for {p.min_trl_prob:.0%} confidence in a positive Sharpe"
        )
    else:
        ok.append(f"{n:,} bars ≥ minimum track record length {mintrl:,.0f}")
    if mdd > p.max_drawdown:
        iterate.append(f"max drawdown {mdd:.1%} exceeds {p.max_drawdown:.0%}")
    else:
        ok.append(f"max drawdown {mdd:.1%} within {p.max_drawdown:.0%}")
    if stressed_sharpe <= 0:
        iterate.append(f"at {p.cost_stress:g}× costs the Sharpe falls to {stressed_sharpe:.2f}")
    else:
        ok.append(f"survives {p.cost_stress:g}× costs (Sharpe {stressed_sharpe:.2f})")
    decision = "KILL" if kill else ("ITERATE" if iterate else "SCALE")
    return Verdict(decision, kill + iterate + ok, m)


def verdict(
    *,
    strategy: Any,
    bars: pd.DataFrame,
    costs: Any,
    init_cash: float,
    oos_returns: pd.Series,
    oos_trades: int,
    stressed_sharpe: float,
    periods_per_year: float,
    policy: VerdictPolicy | None = None,
    ledger: Any = None,
    terms: dict[str, Any] | None = None,
    orders: Any = None,
) -> Verdict:
    """Decide on `strategy` (an instance: identity + parameters) validated on `bars`, from its
    out-of-sample results and the registry's evidence on its group; record it in the ledger.

    Refused (ValidationError) unless this configuration is a registered trial of the group:
    only registered runs feed a verdict. `orders`: the order policy the trials ran (their
    cost key holds it; None or market: market orders)."""
    from nzeza.store.trials import TrialGroup, group_rows, record_verdict
    from nzeza.strategies.identity import canonical_params, identify

    p = policy or VerdictPolicy()
    who = identify(strategy)
    group = TrialGroup(who.family, data_fingerprint(bars), timeframe_of(bars))
    cost_key = costs_json(costs, init_cash, orders, terms=terms)  # perpetual terms: research.perp
    with using_ledger(ledger) as led:
        rows = group_rows(led, group)
        if not any(
            r["source_hash"] == who.strategy.source_hash and r["params_hash"] == who.params_hash
            for r in rows
        ):
            raise ValidationError(
                "strategy",
                f"{who.identity} {who.params}",
                f"is not a registered trial of {group}: only registered backtests and sweeps "
                "(register=True, the default) can feed a verdict",
            )
        evidence = group_evidence(led, group, p, cost_key)
        result = decide(
            oos_returns=oos_returns,
            oos_trades=oos_trades,
            stressed_sharpe=stressed_sharpe,
            periods_per_year=periods_per_year,
            evidence=evidence,
            policy=p,
        )
        result.metrics.update(
            strategy=who.name,
            family=who.family,
            identity=who.identity,
            params=who.params,
            params_hash=who.params_hash,
            data_range=[str(bars.index[0]), str(bars.index[-1])],
        )
        result.id = record_verdict(
            led,
            dict(
                family=who.family,
                identity=who.identity,
                source_hash=who.strategy.source_hash,
                strategy=who.name,
                params=canonical_params(who.params),
                params_hash=who.params_hash,
                dataset=group.dataset,
                timeframe=group.timeframe,
                data_start_ns=int(bars.index[0].value),
                data_end_ns=int(bars.index[-1].value),
                costs=cost_key,
                decision=result.decision,
                reasons=json_text(result.reasons),
                metrics=json_text(result.metrics),
                n_trials=evidence.n_trials,
                deflated_sharpe=result.metrics["deflated_sharpe"],
                pbo=result.metrics["pbo"],
                policy=json_text(asdict(p)),
                code_version=__version__,
            ),
        )
    result.metrics["verdict_id"] = result.id
    return result


def finite(value: Any) -> Any:
    """JSON-safe: non-finite floats become None, recursively."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def json_text(value: Any) -> str:
    from nzeza.store import canonical_json

    return canonical_json(finite(value))


def load_verdicts(
    strategy: Any = None, params: dict[str, Any] | None = None, *, ledger: Any = None
) -> list[dict[str, Any]]:
    """Recorded verdicts from the ledger, oldest first (insertion order).

    `strategy`: a class or instance (matched by identity: class path + source hash), a family
    `module:QualName`, an identity `module:QualName@hash`, or a short name (display only);
    `params`: exactly these parameters (a class fills in its defaults)."""
    from nzeza.store.trials import verdicts
    from nzeza.strategies.identity import identify, params_digest, strategy_identity

    where: dict[str, Any] = {}
    if isinstance(strategy, type) or (strategy is not None and not isinstance(strategy, str)):
        cls = strategy if isinstance(strategy, type) else type(strategy)
        ident = strategy_identity(cls)
        where["family"], where["source_hash"] = ident.family, ident.source_hash
        if params is not None:
            try:
                where["params_hash"] = identify(cls(**params)).params_hash
            except TypeError:
                where["params_hash"] = params_digest(params)
        elif not isinstance(strategy, type):
            where["params_hash"] = identify(strategy).params_hash
    elif isinstance(strategy, str):
        key = "identity" if "@" in strategy else ("family" if ":" in strategy else "strategy")
        where[key] = strategy
        if params is not None:
            where["params_hash"] = params_digest(params)
    with using_ledger(ledger) as led:
        return verdicts(led, **where)


__all__ = [
    "Evidence",
    "Verdict",
    "VerdictPolicy",
    "data_fingerprint",
    "decide",
    "group_evidence",
    "load_verdicts",
    "verdict",
]
