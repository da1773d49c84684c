"""Honest statistics for strategy selection (Bailey & López de Prado).

Conventions: Sharpe ratios are *per period* (not annualised) unless a function says otherwise;
kurtosis is *raw* (a normal distribution has 3, not 0). vectorbt's own deflated Sharpe passes
excess kurtosis where raw is expected; nzeza does not use it.

Overfitting statistics of a whole selection (every trial tried on the same data):
`pbo` (probability of backtest overfitting by CSCV, `nzeza.stats.cscv`) and `cpcv`
(combinatorial purged cross-validation, `nzeza.stats.purged_cv`).

References:
- D. Bailey, M. López de Prado, "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2),
  2012 — probabilistic Sharpe ratio (PSR) and minimum track record length (MinTRL).
- D. Bailey, M. López de Prado, "The Deflated Sharpe Ratio: Correcting for Selection Bias,
  Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 2014.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


class _ScipyStats:
    """`scipy.stats`, imported on first use: it costs ~0.5 s, and a backtest needs none of it."""

    def __getattr__(self, name: str) -> Any:
        from scipy import stats

        return getattr(stats, name)


_st = _ScipyStats()

EULER_GAMMA = 0.5772156649015329


def sharpe_ratio(returns: pd.Series | np.ndarray, periods_per_year: float | None = None) -> float:
    """Mean / standard deviation (ddof=1) of per-period returns; annualised by √periods if given."""
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < 2 or np.std(r, ddof=1) == 0:
        return 0.0
    sr = float(np.mean(r) / np.std(r, ddof=1))
    return sr * math.sqrt(periods_per_year) if periods_per_year else sr


def sortino_ratio(returns: pd.Series | np.ndarray, periods_per_year: float | None = None) -> float:
    """Mean / downside deviation (root mean square of negative returns, target 0)."""
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if len(r) else 0.0
    if downside == 0:
        return 0.0
    ratio = float(np.mean(r) / downside)
    return ratio * math.sqrt(periods_per_year) if periods_per_year else ratio


def max_drawdown(equity: pd.Series | np.ndarray) -> float:
    """Largest peak-to-trough fall of an equity curve, as a positive fraction (0.25 = −25%)."""
    e = np.asarray(equity, dtype=float)
    if len(e) == 0:
        return 0.0
    peaks = np.maximum.accumulate(e)
    return float(np.max(1.0 - e / peaks))


def _sr_std(sr: float, skew: float, kurtosis: float) -> float:
    value = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    return math.sqrt(max(value, 1e-300))


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """P(true Sharpe > `sr_benchmark`) given an observed per-period `sr` over `n_obs` returns."""
    if n_obs < 2:
        return float("nan")
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1) / _sr_std(sr, skew, kurtosis)
    return float(_st.norm.cdf(z))


def expected_max_sharpe(n_trials: int, var_trials: float, mean: float = 0.0) -> float:
    """Expected maximum Sharpe among `n_trials` independent trials of variance `var_trials`
    (the false-strategy theorem): the bar a selected Sharpe must clear to be more than luck."""
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    if n_trials == 1:
        return mean
    z1 = _st.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = _st.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return mean + math.sqrt(var_trials) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def deflated_sharpe_ratio(
    sr: float,
    n_trials: int,
    var_trials: float,
    n_obs: int,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """PSR against the expected maximum Sharpe of `n_trials` trials: P(skill, not selection)."""
    return probabilistic_sharpe_ratio(
        sr, expected_max_sharpe(n_trials, var_trials), n_obs, skew, kurtosis
    )


def min_track_record_length(
    sr: float, sr_benchmark: float, skew: float = 0.0, kurtosis: float = 3.0, prob: float = 0.95
) -> float:
    """Observations needed for PSR(sr_benchmark) to reach `prob` (inf if sr <= benchmark)."""
    if sr <= sr_benchmark:
        return math.inf
    z = _st.norm.ppf(prob)
    return 1.0 + _sr_std(sr, skew, kurtosis) ** 2 * (z / (sr - sr_benchmark)) ** 2


def moments(returns: pd.Series | np.ndarray) -> tuple[float, float]:
    """(skew, raw kurtosis) of returns: normal = (0, 3)."""
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < 4 or np.std(r) == 0:
        return 0.0, 3.0
    return float(_st.skew(r)), float(_st.kurtosis(r, fisher=False))


from nzeza.stats.cscv import PBOResult, pbo  # noqa: E402
from nzeza.stats.purged_cv import CPCVResult, CPCVSplit, cpcv, cpcv_splits  # noqa: E402

__all__ = [
    "CPCVResult",
    "CPCVSplit",
    "PBOResult",
    "cpcv",
    "cpcv_splits",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "max_drawdown",
    "min_track_record_length",
    "moments",
    "pbo",
    "probabilistic_sharpe_ratio",
    "sharpe_ratio",
    "sortino_ratio",
]
