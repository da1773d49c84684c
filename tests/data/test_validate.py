"""validate_ohlcv: one crafted frame per problem, strict mode, and invariants (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.data import OhlcvReport, OhlcvValidationError, validate_ohlcv
from nzeza.data.validate import PROBLEMS
from nzeza.errors import DataError, ValidationError

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def bars(n: int = 10, freq: str = "1h", start: pd.Timestamp = T0) -> pd.DataFrame:
    """A clean frame: a gentle zig-zag, high/low around open/close, positive volume."""
    close = 100 + np.arange(n) % 3 + np.arange(n) / 1000
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 1,
            "low": np.minimum(open_, close) - 1,
            "close": close.astype(float),
            "volume": 5.0 + np.arange(n) / 100,
        },
        index=pd.date_range(start, periods=n, freq=freq, name="time"),
    )


def at(i: int, freq: str = "1h") -> pd.Timestamp:
    return T0 + i * pd.Timedelta(freq)


def only(report: OhlcvReport) -> dict[str, int]:
    return {k: v for k, v in report.counts.items() if v}


def test_clean_frame_is_ok() -> None:
    report = validate_ohlcv(bars(), "1h")
    assert report.ok and report.issues == [] and only(report) == {}
    assert report.rows == 10 and report.start == T0 and report.end == at(9)
    assert "OK" in str(report) and report.to_frame().empty


def test_gap_lists_first_missing_bar_and_count() -> None:
    df = bars(10).drop([at(3), at(4), at(7)])
    report = validate_ohlcv(df, "1h")
    assert report.gaps == [(at(3), 2), (at(7), 1)]
    assert report.missing_bars == 3 and only(report) == {"gap": 2}


def test_daily_gap_like_the_bitstamp_outage() -> None:
    df = bars(20, "1D").drop([at(i, "1D") for i in range(5, 17)])
    report = validate_ohlcv(df, "1d")
    assert report.gaps == [(at(5, "1D"), 12)]


def test_duplicate_timestamps_listed_once() -> None:
    df = bars(5)
    df = pd.concat([df, df.iloc[[2, 2]]])
    report = validate_ohlcv(df, "1h")
    assert report.duplicates == [at(2)]
    dup = next(i for i in report.issues if i.problem == "duplicate")
    assert dup.detail == "timestamp appears 3 times"


def test_non_monotonic_names_the_row_that_goes_back() -> None:
    df = bars(6)
    df = df.iloc[[0, 1, 3, 2, 4, 5]]
    report = validate_ohlcv(df, "1h")
    assert report.non_monotonic == [at(2)]
    assert report.gaps == [] and report.duplicates == []


def test_misaligned_bar() -> None:
    df = bars(4)
    off = at(3) + pd.Timedelta(minutes=30)
    df.index = pd.DatetimeIndex([at(0), at(1), at(2), off], name="time")
    report = validate_ohlcv(df, "1h")
    assert report.misaligned == [off]
    assert report.gaps == [(at(3), 1)]  # the 03:00 bar itself is missing too


def test_nan_names_the_field() -> None:
    df = bars()
    df.loc[at(4), "close"] = np.nan
    report = validate_ohlcv(df, "1h", max_abs_log_return=None)
    assert report.nan == [at(4)]
    assert report.issues[0].field == "close"


@pytest.mark.parametrize("value", [0.0, -5.0])
def test_non_positive_price(value: float) -> None:
    df = bars()
    df.loc[at(6), "low"] = value
    report = validate_ohlcv(df, "1h")
    assert report.non_positive == [at(6)]
    issue = next(i for i in report.issues if i.problem == "non_positive")
    assert issue.field == "low" and issue.value == value


def test_negative_volume() -> None:
    df = bars()
    df.loc[at(1), "volume"] = -1.0
    assert validate_ohlcv(df, "1h").negative_volume == [at(1)]


def test_high_below_open_or_close() -> None:
    df = bars()
    df.loc[at(2), "high"] = df.loc[at(2), "close"] - 0.5
    df.loc[at(5), "high"] = df.loc[at(5), "open"] - 0.01
    report = validate_ohlcv(df, "1h")
    assert report.high_below == [at(2), at(5)]
    assert report.low_above == []


def test_low_above_open_or_close() -> None:
    df = bars()
    df.loc[at(8), "low"] = df.loc[at(8), ["open", "close"]].min() + 0.25
    report = validate_ohlcv(df, "1h")
    assert report.low_above == [at(8)] and report.high_below == []


def test_zero_volume_runs_by_configurable_length() -> None:
    df = bars(12)
    df.loc[at(2) : at(4), "volume"] = 0.0  # run of 3
    df.loc[at(7), "volume"] = 0.0  # run of 1
    assert validate_ohlcv(df, "1h").zero_volume_runs == [(at(2), 3)]
    assert validate_ohlcv(df, "1h", min_zero_volume_run=4).zero_volume_runs == []
    assert validate_ohlcv(df, "1h", min_zero_volume_run=1).zero_volume_runs == [
        (at(2), 3),
        (at(7), 1),
    ]
    assert validate_ohlcv(df, "1h", min_zero_volume_run=None).ok


def test_extreme_returns_by_configurable_threshold() -> None:
    df = bars()
    df.loc[at(5), ["high", "close"]] = [250.0, 250.0]  # a bad tick: log(250/102) = 0.90
    df.loc[at(6), "open"] = 250.0
    df.loc[at(6), "high"] = 251.0
    report = validate_ohlcv(df, "1h")
    assert report.extreme_returns == [at(5), at(6)]  # up, then back down
    assert validate_ohlcv(df, "1h", max_abs_log_return=1.0).extreme_returns == []
    assert validate_ohlcv(df, "1h", max_abs_log_return=None).ok


def test_repeated_bars_pasted_under_later_times() -> None:
    df = bars(12)
    df.iloc[8:10] = df.iloc[3:5].to_numpy()  # bars 3-4 pasted again as 8-9
    df.iloc[10:12] = [[7.0, 7.0, 7.0, 7.0, 0.0]] * 2  # flat empty bars repeat legitimately
    report = validate_ohlcv(df, "1h", max_abs_log_return=None)
    assert report.repeated_bars == [at(8), at(9)]
    issue = next(i for i in report.issues if i.problem == "repeated_bar")
    assert "2024-01-01 03:00:00Z" in issue.detail


def test_strict_raises_on_first_bad_timestamp_in_time_order() -> None:
    df = bars()
    df.loc[at(7), "high"] = 1.0  # high below (later)
    df.loc[at(3), "volume"] = -2.0  # negative volume (earlier)
    with pytest.raises(OhlcvValidationError) as err:
        validate_ohlcv(df, "1h", strict=True)
    e = err.value
    assert isinstance(e, DataError)
    assert (e.time, e.field, e.value, e.problem) == (at(3), "volume", -2.0, "negative_volume")
    assert "2024-01-01 03:00:00Z" in str(e) and "volume=-2.0" in str(e)
    assert e.report.counts["high_below"] == 1


def test_report_frame_and_text() -> None:
    df = bars(30).drop([at(10)])
    df.loc[at(20), "low"] = 500.0
    report = validate_ohlcv(df, "1h")
    frame = report.to_frame()
    assert list(frame.columns) == ["problem", "time", "field", "value", "detail"]
    assert frame["problem"].tolist() == ["gap", "low_above"]
    assert frame["time"].tolist() == [at(10), at(20)]
    text = str(report)
    assert "gap" in text and "low_above" in text and "2024-01-01 20:00:00Z" in text
    assert set(report.counts) == set(PROBLEMS)


def test_naive_index_is_taken_as_utc() -> None:
    df = bars()
    df.index = df.index.tz_localize(None)
    assert validate_ohlcv(df, "1h").start == T0


def test_wrong_input_names_the_field() -> None:
    with pytest.raises(ValidationError, match=r"bars\.columns"):
        validate_ohlcv(bars().drop(columns="volume"), "1h")
    with pytest.raises(ValidationError, match=r"bars\.index"):
        validate_ohlcv(bars().reset_index(drop=True), "1h")
    with pytest.raises(ValidationError, match=r"timeframe='1x'"):
        validate_ohlcv(bars(), "1x")


def test_an_empty_frame_is_an_issue_a_header_only_file_fails_strict() -> None:
    report = validate_ohlcv(bars(0), "1h")
    assert not report.ok and report.rows == 0 and report.start is None
    assert report.counts["empty"] == 1
    with pytest.raises(OhlcvValidationError, match="empty"):
        report.raise_if_bad()


def test_infinite_prices_are_issues() -> None:
    frame = bars(5)
    frame[["open", "high", "low", "close"]] = np.inf
    report = validate_ohlcv(frame, "1h")
    assert report.counts["non_finite"] == 5 and report.first_issue.field == "open"


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 80),
    drop=st.sets(st.integers(1, 78), max_size=10),
    perm_seed=st.integers(0, 2**16),
)
def test_gaps_count_exactly_the_removed_bars_and_order_does_not_matter(
    n: int, drop: set[int], perm_seed: int
) -> None:
    df = bars(n)
    removed = sorted(i for i in drop if 0 < i < n - 1)
    df = df.drop([at(i) for i in removed])
    report = validate_ohlcv(df, "1h")
    assert report.missing_bars == len(removed)
    missing = {at(i) for i in removed}
    for start, count in report.gaps:
        assert all(start + k * pd.Timedelta("1h") in missing for k in range(count))
    # Shuffling rows changes only the ordering findings, never gaps.
    shuffled = df.sample(frac=1.0, random_state=perm_seed)
    again = validate_ohlcv(shuffled, "1h")
    assert again.gaps == report.gaps
    is_sorted = shuffled.index.is_monotonic_increasing
    assert (again.non_monotonic == []) == is_sorted


def test_several_symbols_side_by_side_get_a_hint() -> None:
    from nzeza.data import load_sample

    with pytest.raises(ValidationError, match=r"symbol='BTC'") as err:
        validate_ohlcv(load_sample("bitstamp_1d"), "1d")
    assert err.value.value == ["BTC", "ETH", "LTC"]
