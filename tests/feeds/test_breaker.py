"""Circuit breaker: table-driven transitions, window, exponential open timeout, callbacks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.feeds.breaker import (
    TRANSITIONS,
    BreakerState,
    BreakerTransitionError,
    CircuitBreaker,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(**kw):
    clock = Clock()
    seen = []
    b = CircuitBreaker(
        "t", clock=clock, on_transition=lambda o, n, r: seen.append((o.value, n.value)), **kw
    )
    return b, clock, seen


def test_full_cycle_with_growing_timeout():
    b, clock, seen = make(failure_threshold=3, window_s=10, base_timeout_s=2, max_timeout_s=5)
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure("refused")
    assert b.state is BreakerState.OPEN and not b.allow()
    assert b.seconds_until_retry() == 2
    clock.t += 2
    assert b.allow() and b.state is BreakerState.HALF_OPEN
    b.record_failure()  # trial fails: open again, timeout doubles
    assert b.state is BreakerState.OPEN and b.open_timeout_s == 4
    clock.t += 3.9
    assert not b.allow()
    clock.t += 0.1
    assert b.allow()
    b.record_failure()
    assert b.open_timeout_s == 5  # capped
    clock.t += 5
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.trips == 0 and b.open_timeout_s == 2
    assert seen == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert [t.new.value for t in b.transitions][-1] == "closed" and b.total_trips == 3


def test_failures_outside_the_window_do_not_trip():
    b, clock, _ = make(failure_threshold=3, window_s=10)
    for _ in range(10):
        b.record_failure()
        clock.t += 6
    assert b.state is BreakerState.CLOSED


def test_table_rejects_undefined_events_and_draws_a_diagram():
    b, _, _ = make()
    with pytest.raises(BreakerTransitionError):
        b._fire(next(iter(TRANSITIONS[BreakerState.OPEN])), "x")  # timeout while closed
    assert "closed --> open: trip" in b.diagram()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fail", "ok", "allow"]), st.floats(0, 30)), max_size=60))
def test_every_observed_transition_is_in_the_table(ops):
    b, clock, _ = make(failure_threshold=2, window_s=5, base_timeout_s=1, max_timeout_s=8)
    for op, dt in ops:
        clock.t += dt
        if op == "fail":
            b.record_failure()
        elif op == "ok":
            b.record_success()
        else:
            b.allow()
        assert 1 <= b.open_timeout_s <= 8
    for t in b.transitions:
        assert t.new in TRANSITIONS[t.old].values()
