"""KILL / ITERATE / SCALE, from out-of-sample evidence and the number of trials actually run.

Defaults and why (all configurable through `VerdictPolicy`):
- `scale_dsr=0.95`: SCALE needs 95% confidence that the out-of-sample Sharpe is skill and not
  the best of the trials tried (deflated Sharpe, Bailey & López de Prado 2014);
- `kill_dsr=0.50`: below even odds the selected result is indistinguishable from luck: KILL;
- `min_trades=30`: fewer closed trades cannot support any statistic about the edge: ITERATE;
- `min_trl_prob=0.95`: the history must be at least the minimum track record length at which
  the observed Sharpe beats 0 with that confidence; shorter: ITERATE (collect more data);
- `max_drawdown=0.35`: a strategy that lost more than a third from a peak cannot be scaled;
- cost sensitivity: at `cost_stress`× fees and slippage (default 2) the out-of-sample Sharpe
  must stay positive; an edge that only exists at optimistic costs is not an edge.
An out-of-sample Sharpe at or below zero is KILL whatever else holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nzeza import __version__, stats


@dataclass(frozen=True)
class VerdictPolicy:
    scale_dsr: float = 0.95
    kill_dsr: float = 0.50
    min_trades: int = 30
    min_trl_prob: float = 0.95
    max_drawdown: float = 0.35
    cost_stress: float = 2.0


@dataclass
class Verdict:
    decision: str  # KILL | ITERATE | SCALE
    reasons: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    record_path: str | None = None

    def __str__(self) -> str:
        return "\n".join([f"VERDICT: {self.decision}", *(f"  - {r}" for r in self.reasons)])


def data_fingerprint(bars: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(np.asarray(bars.index.asi8).tobytes())
    h.update(np.ascontiguousarray(bars[["open", "high", "low", "close"]].to_numpy()).tobytes())
    return h.hexdigest()[:16]


def verdict(
    *,
    oos_returns: pd.Series,
    oos_trades: int,
    n_trials: int,
    var_trials: float,
    stressed_sharpe: float,
    periods_per_year: float,
    policy: VerdictPolicy | None = None,
    strategy: str = "",
    params: dict[str, Any] | None = None,
    bars: pd.DataFrame | None = None,
    costs: Any = None,
    record_dir: str | Path | None = "runs/verdicts",
) -> Verdict:
    """Decide from out-of-sample per-period returns and the sweep's trial statistics."""
    p = policy or VerdictPolicy()
    r = oos_returns.dropna()
    n = len(r)
    sr = stats.sharpe_ratio(r)
    skew, kurt = stats.moments(r)
    ann = math.sqrt(periods_per_year)
    dsr = stats.deflated_sharpe_ratio(sr, max(n_trials, 1), max(var_trials, 1e-12), n, skew, kurt)
    emax = stats.expected_max_sharpe(max(n_trials, 1), max(var_trials, 1e-12))
    mintrl = stats.min_track_record_length(sr, 0.0, skew, kurt, p.min_trl_prob)
    equity = (1 + r).cumprod()
    mdd = stats.max_drawdown(np.concatenate([[1.0], equity.to_numpy()]))
    m = {
        "oos_sharpe_annual": sr * ann,
        "oos_sharpe_per_period": sr,
        "n_obs": n,
        "skew": skew,
        "kurtosis": kurt,
        "n_trials": n_trials,
        "var_trials": var_trials,
        "expected_max_sharpe_annual": emax * ann,
        "deflated_sharpe": dsr,
        "min_track_record_length": mintrl,
        "max_drawdown": mdd,
        "oos_trades": oos_trades,
        "stressed_sharpe_annual": stressed_sharpe,
        "oos_total_return": float(equity.iloc[-1] - 1) if n else 0.0,
    }
    kill, iterate, ok = [], [], []
    if sr <= 0:
        kill.append(f"out-of-sample Sharpe is {sr * ann:.2f} (annualised): no edge after costs")
    if dsr < p.kill_dsr:
        kill.append(
            f"deflated Sharpe {dsr:.2f} < {p.kill_dsr}: with {n_trials} trials the expected "
            f"best Sharpe from luck alone is {emax * ann:.2f}, above or near what was found"
        )
    elif dsr < p.scale_dsr:
        iterate.append(
            f"deflated Sharpe {dsr:.2f} < {p.scale_dsr}: not yet distinguishable from "
            f"the best of {n_trials} trials"
        )
    else:
        ok.append(f"deflated Sharpe {dsr:.2f} ≥ {p.scale_dsr} over {n_trials} trials")
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
    result = Verdict(decision, kill + iterate + ok, m)
    if record_dir is not None:
        result.record_path = str(record(result, strategy, params or {}, bars, costs, record_dir))
    return result


def record(
    v: Verdict,
    strategy: str,
    params: dict[str, Any],
    bars: pd.DataFrame | None,
    costs: Any,
    record_dir: str | Path,
) -> Path:
    """Write the verdict as JSON (enough to reproduce it) and return the path."""
    from nzeza.strategies.base import params_hash

    folder = Path(record_dir)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "strategy": strategy,
        "params": params,
        "params_hash": params_hash(strategy, params),
        "decision": v.decision,
        "reasons": v.reasons,
        "metrics": {
            k: (None if isinstance(x, float) and not math.isfinite(x) else x)
            for k, x in v.metrics.items()
        },
        "data_fingerprint": data_fingerprint(bars) if bars is not None else None,
        "data_range": [str(bars.index[0]), str(bars.index[-1])] if bars is not None else None,
        "costs": asdict(costs)
        if costs is not None and hasattr(costs, "__dataclass_fields__")
        else None,
        "code_version": __version__,
        "created": time.time(),
    }
    path = folder / f"{strategy}-{doc['params_hash']}-{int(doc['created'] * 1000)}.json"
    path.write_text(json.dumps(doc, indent=2, default=str))
    return path


def load_verdicts(
    strategy: str | None = None,
    params: dict[str, Any] | None = None,
    record_dir: str | Path = "runs/verdicts",
) -> list[dict[str, Any]]:
    """Recorded verdicts, oldest first, optionally of one strategy + exact params."""
    from nzeza.strategies.base import params_hash

    folder = Path(record_dir)
    docs = (
        [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        if folder.is_dir()
        else []
    )
    if strategy:
        docs = [d for d in docs if d["strategy"] == strategy]
    if params is not None and strategy:
        h = params_hash(strategy, params)
        docs = [d for d in docs if d["params_hash"] == h]
    return sorted(docs, key=lambda d: d["created"])
