"""The indicators equal the pandas calls they stand for, to the last bit: pandas' rolling
kernels, its input cleaning (±inf as NaN) and its window bounds, on random arrays with NaN and
infinities and on the bundled history. Lookahead and bad windows are refused by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from support.pandas_indicators import reference_rsi

from nzeza.data import load_sample
from nzeza.errors import ValidationError
from nzeza.strategies import indicators as ind

floats = st.one_of(
    st.floats(-1e12, 1e12), st.sampled_from([float("nan"), float("inf"), float("-inf")])
)
finite_or_nan = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), st.just(float("nan"))
)
series = st.integers(0, 80).flatmap(
    lambda n: arrays(np.float64, n, elements=st.one_of(finite_or_nan, floats))
)


def same(got: np.ndarray, expected: pd.Series | np.ndarray) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)  # NaN where NaN, every other value exact


def test_the_fast_kernels_are_in_use() -> None:
    """A pandas that moved its rolling kernels falls back to the public calls (same numbers,
    about 10× slower per call on a session's window): this fails so the change is seen."""
    assert ind.FAST


@settings(max_examples=300, deadline=None)
@given(x=series, n=st.integers(1, 90))
def test_rolling_functions_equal_pandas_rolling(x, n) -> None:
    s = pd.Series(x)
    same(ind.sma(x, n), s.rolling(n).mean())
    same(ind.rolling_sum(x, n), s.rolling(n).sum())
    same(ind.rolling_max(x, n), s.rolling(n).max())
    same(ind.rolling_min(x, n), s.rolling(n).min())
    same(ind.rolling_std(x, n), s.rolling(n).std())
    same(ind.rolling_std(x, n, ddof=0), s.rolling(n).std(ddof=0))
    same(ind.sma(s, n), s.rolling(n).mean())  # a Series in, the same array out


@settings(max_examples=200, deadline=None)
@given(x=series, n=st.integers(1, 40), ddof=st.sampled_from([0, 1]))
def test_zscore_equals_pandas(x, n, ddof) -> None:
    s = pd.Series(x)
    with np.errstate(all="ignore"):
        expected = (s - s.rolling(n).mean()) / s.rolling(n).std(ddof=ddof)
    same(ind.zscore(x, n, ddof=ddof), expected)


def reference_true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    prev = close.shift(1)
    return pd.concat([high - low, (high - prev).abs(), (low - prev).abs()], axis=1).max(axis=1)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 60).flatmap(
        lambda n: st.tuples(*(arrays(np.float64, n, elements=finite_or_nan) for _ in range(3)))
    ),
    st.integers(1, 20),
)
def test_true_range_and_atr_equal_pandas(hlc, n) -> None:
    high, low, close = (pd.Series(a) for a in hlc)
    tr = reference_true_range(high, low, close)
    same(ind.true_range(high, low, close), tr)
    same(ind.atr(high, low, close, n), tr.rolling(n).mean())


def test_true_range_refuses_columns_of_different_lengths() -> None:
    with pytest.raises(ValidationError, match="low"):
        ind.true_range(np.ones(5), np.ones(4), np.ones(5))
    with pytest.raises(ValidationError, match="close"):
        ind.atr(np.ones(5), np.ones(5), np.ones(6), 2)


@settings(max_examples=300, deadline=None)
@given(x=series, k=st.integers(0, 90), limit=st.one_of(st.none(), st.integers(1, 20)))
def test_shift_diff_ffill_equal_pandas(x, k, limit) -> None:
    s = pd.Series(x)
    same(ind.shift(x, k), s.shift(k))
    same(ind.diff(x, k), s.diff(k))
    same(ind.ffill(x, limit=limit), s.ffill(limit=limit))


@settings(max_examples=200, deadline=None)
@given(
    x=st.integers(0, 80).flatmap(lambda n: arrays(np.float64, n, elements=finite_or_nan)),
    period=st.integers(2, 30),
)
def test_rsi_equals_the_pandas_formulation(x, period) -> None:
    same(ind.rsi(x, period), reference_rsi(pd.Series(x), period))


def test_on_the_bundled_history() -> None:
    bars = load_sample("btc_usd_1h")
    close, high = bars["close"], bars["high"]
    for n in (2, 14, 30, 168, 500):
        same(ind.sma(close, n), close.rolling(n).mean())
        same(ind.rolling_std(np.log(close).diff(), n), np.log(close).diff().rolling(n).std())
        same(ind.rolling_max(high, n), high.rolling(n).max())
        same(ind.rsi(close, n), reference_rsi(close, n))
        tr = reference_true_range(high, bars["low"], close)
        same(ind.atr(high, bars["low"], close, n), tr.rolling(n).mean())


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
    """`series.where(every indicator defined, 0.0).astype(float)`, for float, bool and int
    targets (infinities count as defined: only NaN means warming up)."""
    values, needed, kind = case
    if kind == "bool":
        target = pd.Series(values > 0)
    elif kind == "int":
        target = pd.Series(np.clip(np.nan_to_num(values), -1e6, 1e6).astype(np.int64))
    else:
        target = pd.Series(values)
    mask = pd.Series(True, index=target.index)
    for n in needed:
        mask &= pd.Series(n).notna()
    same(ind.ready(target, *needed), target.where(mask, 0.0).astype(float))
    same(ind.ready(target.to_numpy(), *needed), target.where(mask, 0.0).astype(float))


def test_lookahead_and_bad_windows_are_refused_by_name() -> None:
    x = np.arange(10.0)
    with pytest.raises(ValidationError, match=r"periods.*lookahead"):
        ind.shift(x, -1)
    with pytest.raises(ValidationError, match="periods"):
        ind.diff(x, -3)
    for bad in (0, -5, 2.5, True, "10"):
        with pytest.raises(ValidationError, match="window"):
            ind.sma(x, bad)
    with pytest.raises(ValidationError, match="limit"):
        ind.ffill(x, limit=0)
    with pytest.raises(ValidationError, match=r"values.*one-dimensional"):
        ind.sma(np.ones((3, 2)), 2)
    for text in (pd.Series(["a", "b"]), ["1.0", "x"], {"a": 1}):
        with pytest.raises(ValidationError, match=r"values.*must be numbers"):
            ind.sma(text, 2)


def test_inputs_are_not_modified() -> None:
    x = np.array([1.0, np.inf, 3.0, np.nan, 5.0])
    before = x.copy()
    for f in (ind.sma, ind.rolling_std, ind.rolling_max):
        f(x, 2)
    ind.ffill(x)
    np.testing.assert_array_equal(x, before)


def test_columns_equal_the_frame_columns_on_windows_and_histories() -> None:
    """A session's window (one array of the frame), a long history (column by column), a frame
    with a text column (column by column): the same arrays as `bars[name].to_numpy()`, never
    writable into the frame."""
    bars = load_sample("btc_usd_1h")
    names = ("high", "low", "close")
    text = bars.iloc[:50].assign(symbol="BTCUSDT")
    for frame in (bars.iloc[:30], bars.iloc[:5000], bars, text):
        got = ind.columns(frame, *names)
        for name, array in zip(names, got, strict=True):
            np.testing.assert_array_equal(array, frame[name].to_numpy(dtype=np.float64))
            assert array.dtype == np.float64 and not array.flags.writeable
    np.testing.assert_array_equal(ind.column(bars.iloc[:30], "open"), bars["open"].iloc[:30])


def test_columns_refuses_a_missing_or_duplicated_name_by_name() -> None:
    bars = load_sample("btc_usd_1h").iloc[:30]
    with pytest.raises(ValidationError, match="vwap"):
        ind.columns(bars, "close", "vwap")
    twice = pd.concat([bars, bars[["close"]]], axis=1)
    with pytest.raises(ValidationError, match="one-dimensional"):
        ind.column(twice, "close")
