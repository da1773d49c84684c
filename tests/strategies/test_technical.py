"""`_ready` (every shipped strategy's last step, in numpy) equals the pandas expression it
replaced: `series.where(all indicators defined, 0.0).astype(float)`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nzeza.strategies.technical import _ready

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 60).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=floats),
            st.lists(arrays(np.float64, n, elements=floats), max_size=3),
            st.sampled_from(["float", "bool", "int"]),
        )
    )
)
def test_ready_equals_the_pandas_expression(case) -> None:
    values, needed, kind = case
    index = pd.date_range("2024-01-01", periods=len(values), freq="h", tz="UTC", name="time")
    if kind == "bool":
        series = pd.Series(values > 0, index=index, name="x")
    elif kind == "int":
        series = pd.Series(np.clip(np.nan_to_num(values), -1e6, 1e6).astype(np.int64), index)
    else:
        series = pd.Series(values, index=index, name="x")
    others = [pd.Series(n, index=index) for n in needed]
    mask = pd.Series(True, index=index)
    for s in others:
        mask &= s.notna()
    expected = series.where(mask, 0.0).astype(float)
    got = _ready(series, *others)
    pd.testing.assert_series_equal(got, expected, check_exact=True)
