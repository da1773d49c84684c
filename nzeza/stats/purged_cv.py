"""Combinatorial purged cross-validation (CPCV) of a strategy selection: a distribution of
out-of-sample Sharpe ratios instead of one walk-forward path.

M. López de Prado, "Advances in Financial Machine Learning" (2018), ch. 7 (purging and
embargo) and ch. 12 (CPCV). The T observations are split into `n_folds` contiguous folds (the
first `n_folds − 1` of T // n_folds observations, the last takes the rest); each of the
C(n_folds, n_test_folds) choices of `n_test_folds` folds is a test set, the rest the training
set, from which are removed

- **purged** observations: `purge` observations on each side of every test fold, whose labels
  (here one bar's return, realised over the position held into it) overlap the test labels;
- **embargoed** observations: a further `embargo` observations after every test fold, because
  positions and volatility are serially correlated.

The splits are skfolio's `CombinatorialPurgedCV` (tests hold them to the book's definition on
a hand-worked example). Each split selects the trial with the best training Sharpe and keeps its
returns on the test folds; the φ = n_test_folds / n_folds × C(n_folds, n_test_folds) paths are
recombined from those test folds (every fold once per path, AFML fig. 12.2), and each path's
per-period Sharpe is one draw of the out-of-sample Sharpe of "pick the in-sample best of this
family". With a single trial this is simply that trial's Sharpe on φ reshuffled paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError
from nzeza.stats.cscv import FLAT_STD, as_matrix


@dataclass(frozen=True)
class CPCVSplit:
    """One split: training rows (after purge and embargo) and each test fold's rows."""

    train: np.ndarray
    test_folds: tuple[int, ...]
    tests: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class CPCVResult:
    path_sharpes: np.ndarray  # per-period Sharpe of each recombined out-of-sample path
    selected: np.ndarray  # the trial chosen on each split's training rows
    n_splits: int
    n_paths: int
    n_folds: int
    n_test_folds: int
    purge: int
    embargo: int

    def quantile(self, q: float) -> float:
        """The q-quantile of the path Sharpe ratios (linear interpolation)."""
        return float(np.quantile(self.path_sharpes, q))

    def __str__(self) -> str:
        return (
            f"CPCV {self.n_paths} paths from {self.n_splits} splits "
            f"({self.n_folds} folds, {self.n_test_folds} test, purge {self.purge}, "
            f"embargo {self.embargo}): per-period Sharpe 5% {self.quantile(0.05):.4f}, "
            f"median {self.quantile(0.5):.4f}"
        )


def _checked(n_obs: int, n_folds: int, n_test_folds: int, purge: int, embargo: int) -> None:
    for name, value, low in (("n_folds", n_folds, 3), ("n_test_folds", n_test_folds, 2)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValidationError(name, value, f"must be an integer >= {low}")
    if n_test_folds >= n_folds:
        raise ValidationError("n_test_folds", n_test_folds, f"must be < n_folds ({n_folds})")
    for name, value in (("purge", purge), ("embargo", embargo)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValidationError(name, value, "must be an integer >= 0")
    fold = n_obs // n_folds
    if purge + embargo >= fold - 1:
        raise ValidationError(
            "trial_returns",
            f"{n_obs} rows",
            f"too few rows: folds of {fold} rows must exceed purge + embargo + 1 "
            f"({purge + embargo + 1})",
        )


def cpcv_splits(
    n_obs: int, n_folds: int = 12, n_test_folds: int = 3, purge: int = 1, embargo: int = 0
) -> tuple[list[CPCVSplit], np.ndarray]:
    """The CPCV splits of `n_obs` observations and the path id of each split's test folds
    (n_splits × n_test_folds): skfolio's `CombinatorialPurgedCV`."""
    from skfolio.model_selection import CombinatorialPurgedCV

    _checked(n_obs, n_folds, n_test_folds, purge, embargo)
    cv = CombinatorialPurgedCV(
        n_folds=int(n_folds),
        n_test_folds=int(n_test_folds),
        purged_size=int(purge),
        embargo_size=int(embargo),
    )
    folds = cv.test_set_index
    splits = [
        CPCVSplit(np.asarray(train), tuple(int(f) for f in folds[i]), tuple(tests))
        for i, (train, tests) in enumerate(cv.split(np.zeros((n_obs, 1))))
    ]
    return splits, np.asarray(cv.get_path_ids())


def _sharpe_columns(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=0)
    std = x.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > FLAT_STD, mean / std, 0.0)


def cpcv(
    trial_returns: pd.DataFrame | np.ndarray,
    n_folds: int = 12,
    n_test_folds: int = 3,
    purge: int = 1,
    embargo: int = 0,
) -> CPCVResult:
    """Out-of-sample Sharpe paths of selecting the best trial (column) on each CPCV training
    set; see the module docstring. Sharpe ratios are per period."""
    x = as_matrix(trial_returns)
    t, n = x.shape
    if n < 1:
        raise ValidationError("trial_returns", "0 trials", "needs at least one trial (column)")
    splits, path_ids = cpcv_splits(t, n_folds, n_test_folds, purge, embargo)
    # prefix sums: a training set is a few contiguous runs, so its moments cost O(runs × N)
    mu = x.mean(axis=0)
    centred = x - mu  # the variance is shift-invariant; centring keeps the sums accurate
    c1 = np.vstack([np.zeros(n), np.cumsum(centred, axis=0)])
    c2 = np.vstack([np.zeros(n), np.cumsum(centred**2, axis=0)])
    n_paths = int(path_ids.max()) + 1
    pieces: list[dict[int, np.ndarray]] = [{} for _ in range(n_paths)]
    selected = np.empty(len(splits), dtype=np.int64)
    for i, split in enumerate(splits):
        idx = split.train
        breaks = np.flatnonzero(np.diff(idx) != 1)
        starts = np.concatenate([[idx[0]], idx[breaks + 1]])
        ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
        s1 = (c1[ends] - c1[starts]).sum(axis=0)
        s2 = (c2[ends] - c2[starts]).sum(axis=0)
        m = float(len(idx))
        var = np.maximum(s2 - s1**2 / m, 0.0) / (m - 1.0)
        std = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            sr = np.where(std > FLAT_STD, (mu + s1 / m) / std, 0.0)
        best = int(np.argmax(sr))
        selected[i] = best
        for j, (fold, rows) in enumerate(zip(split.test_folds, split.tests, strict=True)):
            pieces[int(path_ids[i, j])][fold] = x[rows, best]
    path_sharpes = np.array(
        [_sharpe_columns(np.concatenate([p[f] for f in sorted(p)])[:, None])[0] for p in pieces]
    )
    return CPCVResult(
        path_sharpes=path_sharpes,
        selected=selected,
        n_splits=len(splits),
        n_paths=n_paths,
        n_folds=int(n_folds),
        n_test_folds=int(n_test_folds),
        purge=int(purge),
        embargo=int(embargo),
    )


__all__ = ["CPCVResult", "CPCVSplit", "cpcv", "cpcv_splits"]
