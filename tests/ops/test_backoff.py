"""The one backoff policy: ceilings, the three jitter modes, and its users agree with it."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nzeza.errors import ConfigError
from nzeza.execution.retry import RetryPolicy
from nzeza.ops.backoff import Backoff


@given(st.integers(0, 40), st.integers(0, 2**32))
def test_every_delay_stays_within_its_jitter_band(attempt: int, seed: int) -> None:
    full = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(seed))
    top = full.ceiling(attempt)
    assert top == min(30.0, 0.5 * 2.0**attempt)
    assert 0.0 <= full.delay(attempt) <= top
    banded = Backoff(base_s=0.5, cap_s=30.0, jitter=0.1, rng=random.Random(seed))
    assert top * 0.9 <= banded.delay(attempt) <= top * 1.1
    assert Backoff(base_s=0.5, cap_s=30.0, jitter=0).delay(attempt) == top


def test_order_retries_and_downloads_use_the_same_ceilings() -> None:
    policy = RetryPolicy(base_delay=0.2, factor=2.0, max_delay=10.0, jitter=0.1)
    backoff = Backoff(base_s=0.2, cap_s=10.0, factor=2.0, jitter=0.1)
    for retry in range(1, 10):
        assert policy.delay(retry) == backoff.ceiling(retry - 1)
        assert policy.delay(retry, random.Random(retry)) == backoff.delay(
            retry - 1, random.Random(retry)
        )


@pytest.mark.parametrize(
    "kwargs", [{"base_s": -1.0}, {"factor": 0.5}, {"jitter": 1.0}, {"jitter": -0.1}]
)
def test_a_nonsense_backoff_is_a_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="backoff"):
        Backoff(**kwargs)
