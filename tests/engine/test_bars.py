"""The trailing window's frame is exactly the frame built from the bars by pandas' parser."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.engine.bars import FIELDS, Bar, BarWindow


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 40),
    n=st.integers(1, 120),
    start=st.integers(-(2**40), 2**40),
    step=st.integers(1, 10**12),
)
def test_frame_equals_the_parsed_frame(size, n, start, step) -> None:
    rng = np.random.default_rng(n)
    window = BarWindow(size)
    bars = [Bar(start * 1000 + i * step, *rng.normal(100, 10, 5).tolist()) for i in range(n)]
    for bar in bars:
        window.append(bar)
    last = bars[-min(size, n) :]
    expected = pd.DataFrame(
        [[getattr(b, f) for f in FIELDS] for b in last],
        index=pd.DatetimeIndex(pd.to_datetime([b.ts for b in last], utc=True), name="time"),
        columns=list(FIELDS),
    )
    got = window.frame()
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_freq=True)
    assert got.index.dtype == expected.index.dtype and got.index.freq is None


def test_the_direct_index_path_is_used_only_when_it_builds_the_public_index(monkeypatch) -> None:
    """The window's index skips pandas' constructor through a private path; a pandas on which
    that path builds anything else (another dtype, naive times, an error) gets the public
    constructor instead."""
    from nzeza.engine import bars as bars_module

    assert bars_module.utc_index is bars_module._direct_utc_index  # this pandas: the fast path
    ts = np.array([0, 3_600_000_000_000], dtype=np.int64)
    pd.testing.assert_index_equal(
        bars_module._direct_utc_index(ts), bars_module._public_utc_index(ts), exact=True
    )

    def naive(ts):
        return pd.DatetimeIndex(ts.astype("M8[ns]"), name="time")

    def broken(ts):
        raise AttributeError("_simple_new")

    for wrong in (naive, broken):
        monkeypatch.setattr(bars_module, "_direct_utc_index", wrong)
        assert bars_module._pick_utc_index() is bars_module._public_utc_index


def test_a_strategy_renaming_its_frame_does_not_reach_the_next_frame() -> None:
    window = BarWindow(3)
    window.append(Bar(0, 1.0, 2.0, 0.5, 1.5, 10.0))
    first = window.frame()
    first.columns.name = "field"  # in place, on the frame's columns Index
    first.index.name = "when"
    window.append(Bar(3_600_000_000_000, 1.5, 2.5, 1.0, 2.0, 11.0))
    second = window.frame()
    assert second.columns.name is None and second.index.name == "time"
    assert list(second.columns) == list(FIELDS)
