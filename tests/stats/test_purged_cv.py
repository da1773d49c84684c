"""Combinatorial purged cross-validation against López de Prado's definition (AFML ch. 7, 12)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nzeza import stats
from nzeza.errors import ValidationError
from nzeza.stats import cpcv, cpcv_splits


def book_splits(n_obs: int, n_folds: int, k: int, h: int, embargo: int):
    """AFML's construction written out: folds of n_obs // n_folds observations (the last takes
    the rest); the label of observation t spans [t, t + h]; a training observation is purged
    when its label overlaps a test label, and embargoed when it falls within `embargo`
    observations after the purge that follows a test set."""
    size = n_obs // n_folds
    fold_of = np.minimum(np.arange(n_obs) // size, n_folds - 1)
    out = []
    for combo in itertools.combinations(range(n_folds), k):
        test = np.isin(fold_of, combo)
        test_rows = np.flatnonzero(test)
        train = []
        for i in np.flatnonzero(~test):
            overlaps = np.any(np.abs(test_rows - i) <= h)  # [i, i+h] ∩ [j, j+h] ≠ ∅
            # the embargo follows each test run: rows right after its purge
            before = test_rows[test_rows < i]
            embargoed = len(before) > 0 and i - before[-1] <= h + embargo
            if not overlaps and not embargoed:
                train.append(i)
        out.append((combo, np.array(train), [np.flatnonzero(fold_of == f) for f in combo]))
    return out


def book_paths(n_folds: int, k: int) -> dict[tuple[int, int], int]:
    """Fig. 12.2: fold g's j-th test appearance (in combination order) belongs to path j."""
    seen = dict.fromkeys(range(n_folds), 0)
    path = {}
    for i, combo in enumerate(itertools.combinations(range(n_folds), k)):
        for g in combo:
            path[(i, g)] = seen[g]
            seen[g] += 1
    return path


@pytest.mark.parametrize(("n_obs", "h", "embargo"), [(60, 0, 0), (60, 2, 1), (64, 1, 3)])
def test_splits_equal_the_books_hand_worked_six_fold_example(n_obs, h, embargo) -> None:
    splits, path_ids = cpcv_splits(n_obs, n_folds=6, n_test_folds=2, purge=h, embargo=embargo)
    want = book_splits(n_obs, 6, 2, h, embargo)
    assert len(splits) == math.comb(6, 2) == 15
    paths = book_paths(6, 2)
    for i, (split, (combo, train, tests)) in enumerate(zip(splits, want, strict=True)):
        assert split.test_folds == combo
        np.testing.assert_array_equal(split.train, train)
        for got, rows in zip(split.tests, tests, strict=True):
            np.testing.assert_array_equal(got, rows)
        assert [int(p) for p in path_ids[i]] == [paths[(i, g)] for g in combo]
    # φ[N, k] = k / N · C(N, k) paths, each made of every fold exactly once
    assert path_ids.max() + 1 == 2 * 15 // 6 == 5


def test_purge_and_embargo_spelled_out_on_one_split() -> None:
    # folds of 10: split 6 tests folds 1 and 3 (rows 10-19 and 30-39)
    splits, _ = cpcv_splits(60, n_folds=6, n_test_folds=2, purge=2, embargo=1)
    split = splits[6]
    assert split.test_folds == (1, 3)
    removed = sorted(set(range(60)) - set(split.train) - set(range(10, 20)) - set(range(30, 40)))
    # purged: 2 before and 2 after each test fold; embargoed: 1 more after each
    assert removed == [8, 9, 20, 21, 22, 28, 29, 40, 41, 42]


def reference_cpcv(x: np.ndarray, n_folds: int, k: int, h: int, embargo: int) -> np.ndarray:
    paths = book_paths(n_folds, k)
    pieces: dict[int, dict[int, np.ndarray]] = {}
    for i, (combo, train, tests) in enumerate(book_splits(len(x), n_folds, k, h, embargo)):
        sr = [
            np.mean(x[train, j]) / np.std(x[train, j], ddof=1) if np.std(x[train, j]) else 0.0
            for j in range(x.shape[1])
        ]
        best = int(np.argmax(sr))
        for g, rows in zip(combo, tests, strict=True):
            pieces.setdefault(paths[(i, g)], {})[g] = x[rows, best]
    out = []
    for p in sorted(pieces):
        r = np.concatenate([pieces[p][g] for g in sorted(pieces[p])])
        out.append(np.mean(r) / np.std(r, ddof=1))
    return np.array(out)


def test_path_sharpes_equal_a_loop_over_the_books_splits() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(0.0003, 0.01, (600, 6))
    got = cpcv(x, n_folds=6, n_test_folds=2, purge=3, embargo=6)
    np.testing.assert_allclose(got.path_sharpes, reference_cpcv(x, 6, 2, 3, 6), atol=1e-12)
    assert got.n_splits == 15 and got.n_paths == 5


def test_one_trial_gives_its_own_sharpe_on_every_path() -> None:
    x = np.random.default_rng(9).normal(0.001, 0.01, (1200, 1))
    result = cpcv(x)
    assert result.n_paths == 55  # 12 folds, 3 test: 3 / 12 · 220
    np.testing.assert_allclose(result.path_sharpes, stats.sharpe_ratio(x[:, 0]), rtol=1e-12)


def test_a_real_edge_is_selected_on_every_split_and_noise_is_not() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.01, (2400, 20))
    x[:, 3] += 0.003
    result = cpcv(x, embargo=24)
    assert (result.selected == 3).all()
    assert result.quantile(0.05) > 0.2
    noise = cpcv(rng.normal(0, 0.01, (2400, 20)), embargo=24)
    assert noise.quantile(0.05) < 0 < noise.quantile(0.95) or abs(noise.quantile(0.5)) < 0.05


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"n_folds": 2}, "n_folds"),
        ({"n_test_folds": 1}, "n_test_folds"),
        ({"n_test_folds": 12}, "n_test_folds"),
        ({"purge": -1}, "purge"),
        ({"embargo": 30}, "trial_returns"),
    ],
)
def test_bad_parameters_name_the_field(kw, field) -> None:
    with pytest.raises(ValidationError) as err:
        cpcv(np.zeros((240, 2)), **kw)
    assert err.value.field == field
