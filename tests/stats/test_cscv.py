"""PBO by CSCV against the paper's definition (Bailey, Borwein, López de Prado & Zhu 2017)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from nzeza.errors import ValidationError
from nzeza.stats import pbo


def reference_pbo(frame: pd.DataFrame, n_blocks: int) -> tuple[float, list[float]]:
    """The paper's procedure written out with loops: no shared code with nzeza.stats."""
    values = frame.to_numpy()
    blocks = np.array_split(np.arange(len(values)), n_blocks)
    logits = []
    for combo in itertools.combinations(range(n_blocks), n_blocks // 2):
        rest = [b for b in range(n_blocks) if b not in combo]
        is_rows = np.concatenate([blocks[b] for b in combo])
        oos_rows = np.concatenate([blocks[b] for b in rest])

        def sharpe(rows: np.ndarray, j: int) -> float:
            r = values[rows, j]
            sd = np.std(r, ddof=1)
            return float(np.mean(r) / sd) if sd > 1e-12 else 0.0

        in_sample = [sharpe(is_rows, j) for j in range(values.shape[1])]
        best = int(np.argmax(in_sample))
        oos = [sharpe(oos_rows, j) for j in range(values.shape[1])]
        rank = rankdata(oos, method="average")[best]
        omega = rank / (values.shape[1] + 1)
        logits.append(float(np.log(omega / (1 - omega))))
    return float(np.mean(np.array(logits) <= 0)), logits


def test_equals_a_naive_loop_on_random_data() -> None:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(0.0002, 0.01, (240, 7)))
    want_pbo, want_logits = reference_pbo(frame, 8)
    got = pbo(frame, n_blocks=8)
    assert got.n_combinations == 70 and len(got.logits) == 70
    np.testing.assert_allclose(got.logits, want_logits, rtol=0, atol=1e-12)
    assert got.pbo == pytest.approx(want_pbo, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_trials=st.integers(2, 9),
    n_blocks=st.sampled_from([2, 4, 6]),
    rows=st.integers(12, 90),
)
def test_equals_the_reference_for_any_shape(seed, n_trials, n_blocks, rows) -> None:
    rng = np.random.default_rng(seed)
    # uneven blocks (array_split), fat tails, trials that are flat over whole stretches, and
    # duplicated trials (tied Sharpe ratios: average ranks)
    values = rng.standard_t(3, (rows, n_trials)) * 0.01
    values[: rows // 3, 0] = 0.0
    values[:, -1] = values[:, n_trials // 2]
    frame = pd.DataFrame(values)
    want_pbo, want_logits = reference_pbo(frame, n_blocks)
    got = pbo(frame, n_blocks=n_blocks)
    np.testing.assert_allclose(got.logits, want_logits, rtol=0, atol=1e-12)
    assert got.pbo == want_pbo


def test_pure_noise_is_near_one_half() -> None:
    rng = np.random.default_rng(5)
    results = [pbo(pd.DataFrame(rng.normal(0, 0.01, (1600, 40))), 16).pbo for _ in range(4)]
    assert 0.35 < float(np.mean(results)) < 0.65, results


def test_one_trial_with_a_real_edge_is_near_zero() -> None:
    rng = np.random.default_rng(6)
    values = rng.normal(0, 0.01, (1600, 40))
    values[:, 17] += 0.004  # a per-period Sharpe of 0.4: the best in every half of the data
    result = pbo(pd.DataFrame(values), 16)
    assert result.pbo < 0.02
    assert (result.best_in_sample == 17).mean() > 0.98


def test_default_is_sixteen_blocks_every_half_of_them() -> None:
    rng = np.random.default_rng(1)
    result = pbo(pd.DataFrame(rng.normal(0, 0.01, (3200, 100))))
    assert result.n_blocks == 16 and result.n_combinations == 12_870
    assert len(result.logits) == 12_870 and result.n_trials == 100


@pytest.mark.parametrize(
    ("shape", "n_blocks", "field", "says"),
    [
        ((100, 5), 7, "n_blocks", "even"),
        ((100, 5), 0, "n_blocks", "even"),
        ((100, 1), 4, "trial_returns", "at least 2 trials"),
        ((15, 5), 8, "trial_returns", "too few rows"),
    ],
)
def test_bad_input_names_the_field(shape, n_blocks, field, says) -> None:
    with pytest.raises(ValidationError) as err:
        pbo(pd.DataFrame(np.ones(shape)), n_blocks=n_blocks)
    assert err.value.field == field and says in str(err.value)


def test_non_finite_returns_are_refused_with_their_position() -> None:
    values = np.zeros((64, 3))
    values[10, 2] = np.nan
    with pytest.raises(ValidationError, match="row 10, column 2"):
        pbo(values, 4)
