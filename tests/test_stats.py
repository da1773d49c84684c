"""Statistics against the published worked examples and their defining identities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nzeza import stats


def test_deflated_sharpe_worked_example() -> None:
    """Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: 100
    trials with annualised Sharpe variance 1/2, 1,250 daily observations, skew −3, kurtosis 10
    and an annualised Sharpe of 2.5 give an expected maximum Sharpe of ≈0.1132 (daily) and
    DSR ≈ 0.9004."""
    sr = 2.5 / math.sqrt(250)
    var = 0.5 / 250
    assert stats.expected_max_sharpe(100, var) == pytest.approx(0.1132, abs=5e-5)
    assert stats.deflated_sharpe_ratio(sr, 100, var, 1250, -3, 10) == pytest.approx(
        0.9004, abs=5e-5
    )


def test_psr_is_half_at_the_benchmark_and_normal_formula() -> None:
    assert stats.probabilistic_sharpe_ratio(0.1, 0.1, 500) == pytest.approx(0.5)
    # normal returns: z = SR √(n−1) / √(1 + SR²/2)
    sr, n = 0.1, 101
    z = sr * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2)
    from scipy.stats import norm

    assert stats.probabilistic_sharpe_ratio(sr, 0, n) == pytest.approx(norm.cdf(z))


@pytest.mark.parametrize(("skew", "kurt"), [(0.0, 3.0), (-3.0, 10.0), (1.5, 8.0)])
def test_min_track_record_length_is_where_psr_reaches_the_confidence(skew, kurt) -> None:
    sr, prob = 0.08, 0.95
    n = stats.min_track_record_length(sr, 0.0, skew, kurt, prob)
    assert stats.probabilistic_sharpe_ratio(sr, 0.0, n, skew, kurt) == pytest.approx(prob, abs=1e-3)
    assert math.isinf(stats.min_track_record_length(0.0, 0.1))


def test_negative_skew_fat_tails_need_longer_records() -> None:
    normal = stats.min_track_record_length(0.1, 0.0, 0.0, 3.0)
    ugly = stats.min_track_record_length(0.1, 0.0, -3.0, 10.0)
    assert ugly > normal


def test_more_trials_raise_the_bar() -> None:
    assert stats.expected_max_sharpe(1000, 0.01) > stats.expected_max_sharpe(10, 0.01) > 0
    assert stats.expected_max_sharpe(1, 0.01) == 0.0


def test_sharpe_sortino_drawdown_and_raw_kurtosis() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0.001, 0.01, 200_000)
    assert stats.sharpe_ratio(r) == pytest.approx(0.1, abs=0.01)
    assert stats.sharpe_ratio(r, 365) == pytest.approx(stats.sharpe_ratio(r) * math.sqrt(365))
    assert stats.sortino_ratio(r) > stats.sharpe_ratio(r)
    skew, kurt = stats.moments(r)
    assert abs(skew) < 0.05 and kurt == pytest.approx(3.0, abs=0.05)  # raw, not excess
    assert stats.max_drawdown([100, 120, 90, 130, 65]) == pytest.approx(0.5)
