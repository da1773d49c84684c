"""Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV).

D. Bailey, J. Borwein, M. López de Prado, Q. J. Zhu, "The Probability of Backtest
Overfitting", Journal of Computational Finance 20(4), 2017.

`trial_returns` is a T×N matrix: rows are periods (bars), columns the N trials of one
selection (every configuration tried on the same data). The rows are split into `n_blocks`
contiguous blocks (`numpy.array_split`); each of the C(n_blocks, n_blocks/2) choices of half the
blocks is an in-sample set, the other half (order kept) its out-of-sample set. For each, the
trial with the best in-sample Sharpe is ranked by its out-of-sample Sharpe among all N
(ascending, average ties as `scipy.stats.rankdata`), ω = rank / (N + 1) and the logit
λ = ln(ω / (1 − ω)). PBO is the share of combinations with λ ≤ 0: how often the in-sample
winner is at or below the out-of-sample median. Near 0: selection finds something that
persists; near 0.5: selection is noise; above 0.5: the in-sample best is systematically worse.

Sharpe here is per period: mean / standard deviation (ddof=1). A trial whose returns are
constant over a sample (std ≤ 1e-12, e.g. never in the market) has Sharpe 0 there. The
in-sample winner is the first trial with the highest Sharpe (`numpy.argmax`).

Vectorised: per-block counts, means and sums of squared deviations are computed once; each
combination's in- and out-of-sample mean and variance are combined from them (the pairwise
update of Chan, Golub & LeVeque), for all combinations at once, in batches that bound memory.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError

FLAT_STD = 1e-12  # a sample with std at or below this has Sharpe 0 (no risk, no evidence)
_BATCH_CELLS = 4_000_000  # combinations × trials per batch (bounds memory to ~100 MB)


@dataclass(frozen=True)
class PBOResult:
    pbo: float  # share of combinations with logit ≤ 0
    logits: np.ndarray  # one per combination, in itertools.combinations order
    n_combinations: int
    n_trials: int
    n_blocks: int
    best_in_sample: np.ndarray  # the selected trial (column) of each combination

    def __str__(self) -> str:
        return (
            f"PBO {self.pbo:.3f} over {self.n_trials} trials "
            f"({self.n_combinations:,} CSCV combinations of {self.n_blocks} blocks)"
        )


def as_matrix(trial_returns: pd.DataFrame | np.ndarray, field: str = "trial_returns") -> np.ndarray:
    """A finite float64 T×N matrix, or a ValidationError naming the field."""
    values = np.asarray(
        trial_returns.to_numpy() if isinstance(trial_returns, pd.DataFrame) else trial_returns,
        dtype=np.float64,
    )
    if values.ndim != 2:
        raise ValidationError(field, f"shape {values.shape}", "must be a T×N matrix")
    if not np.isfinite(values).all():
        bad = np.argwhere(~np.isfinite(values))[0]
        raise ValidationError(
            field, f"row {bad[0]}, column {bad[1]}", "must be finite (no NaN or inf)"
        )
    return values


def block_moments(x: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per contiguous block (`numpy.array_split`): counts (B,), means (B×N), and sums of
    squared deviations from the block mean (B×N)."""
    blocks = np.array_split(x, n_blocks, axis=0)
    counts = np.array([len(b) for b in blocks], dtype=np.float64)
    means = np.stack([b.mean(axis=0) for b in blocks])
    m2 = np.stack([((b - b.mean(axis=0)) ** 2).sum(axis=0) for b in blocks])
    return counts, means, m2


def combined_sharpe(
    masks: np.ndarray, counts: np.ndarray, means: np.ndarray, m2: np.ndarray
) -> np.ndarray:
    """Per-period Sharpe (ddof=1) of the union of the blocks selected by each row of `masks`
    (K×B, 0/1), for every trial: K×N. Exact combination of per-block moments."""
    n = masks @ counts  # K
    mean = (masks @ (counts[:, None] * means)) / n[:, None]  # K×N
    # Σ M2_b + Σ n_b (mean_b − mean)², expanded: Σ M2_b + Σ n_b mean_b² − n mean²
    spread = masks @ (counts[:, None] * means**2) - n[:, None] * mean**2
    var = (masks @ m2 + np.maximum(spread, 0.0)) / (n[:, None] - 1.0)
    std = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(std > FLAT_STD, mean / std, 0.0)
    return sr


def pbo(trial_returns: pd.DataFrame | np.ndarray, n_blocks: int = 16) -> PBOResult:
    """PBO by CSCV of a T×N matrix of per-period trial returns (see the module docstring)."""
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int | np.integer):
        raise ValidationError("n_blocks", n_blocks, "must be an even integer >= 2")
    if n_blocks < 2 or n_blocks % 2:
        raise ValidationError("n_blocks", n_blocks, "must be an even integer >= 2")
    x = as_matrix(trial_returns)
    t, n = x.shape
    if n < 2:
        raise ValidationError(
            "trial_returns", f"{n} trial(s)", "PBO needs at least 2 trials (columns) to rank"
        )
    if t < 2 * n_blocks:
        raise ValidationError(
            "trial_returns",
            f"{t} rows",
            f"too few rows for {n_blocks} blocks: need at least {2 * n_blocks} (2 per block)",
        )
    counts, means, m2 = block_moments(x, n_blocks)
    combos = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    k = len(combos)
    logits = np.empty(k)
    best = np.empty(k, dtype=np.int64)
    batch = max(1, _BATCH_CELLS // n)
    for start in range(0, k, batch):
        chunk = combos[start : start + batch]
        is_mask = np.zeros((len(chunk), n_blocks))
        for row, combo in enumerate(chunk):
            is_mask[row, list(combo)] = 1.0
        sr_in = combined_sharpe(is_mask, counts, means, m2)
        sr_out = combined_sharpe(1.0 - is_mask, counts, means, m2)
        chosen = np.argmax(sr_in, axis=1)
        oos = sr_out[np.arange(len(chunk)), chosen][:, None]
        # rankdata(method="average"): 1 + number below + (number equal − 1) / 2
        below = (sr_out < oos).sum(axis=1)
        equal = (sr_out == oos).sum(axis=1)
        rank = below + (equal + 1) / 2.0
        omega = rank / (n + 1.0)
        logits[start : start + len(chunk)] = np.log(omega / (1.0 - omega))
        best[start : start + len(chunk)] = chosen
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        n_combinations=k,
        n_trials=n,
        n_blocks=n_blocks,
        best_in_sample=best,
    )


def n_combinations(n_blocks: int) -> int:
    """C(n_blocks, n_blocks / 2): the number of CSCV splits."""
    return math.comb(n_blocks, n_blocks // 2)


__all__ = ["FLAT_STD", "PBOResult", "n_combinations", "pbo"]
