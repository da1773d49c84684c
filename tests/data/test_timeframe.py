"""parse_timeframe: ccxt spellings to seconds, offsets and ms; errors name the value."""

from __future__ import annotations

import pandas as pd
import pytest

from nzeza.data import Timeframe, parse_timeframe
from nzeza.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "canonical", "seconds"),
    [
        ("1m", "1m", 60),
        ("15m", "15m", 900),
        ("1h", "1h", 3600),
        ("4h", "4h", 14_400),
        ("1d", "1d", 86_400),
        ("1w", "1w", 604_800),
        ("30s", "30s", 30),
        ("1H", "1h", 3600),
        ("1D", "1d", 86_400),
        ("15min", "15m", 900),
        (" 2h ", "2h", 7200),
    ],
)
def test_parse(text: str, canonical: str, seconds: int) -> None:
    tf = parse_timeframe(text)
    assert (tf.text, tf.seconds, tf.ms) == (canonical, seconds, seconds * 1000)
    assert tf.timedelta == pd.Timedelta(seconds=seconds)
    # The offset works as a pandas frequency.
    idx = pd.date_range("2024-01-01", periods=3, freq=tf.offset)
    assert (idx[1] - idx[0]) == tf.timedelta
    assert parse_timeframe(tf) is tf and str(tf) == canonical


def test_divides_day() -> None:
    assert parse_timeframe("4h").divides_day and parse_timeframe("1d").divides_day
    assert not parse_timeframe("7h").divides_day and not parse_timeframe("1w").divides_day


@pytest.mark.parametrize("bad", ["1M", "0h", "h", "1y", "1.5h", "", "hourly", 3600, None])
def test_bad_timeframes_name_field_and_value(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        parse_timeframe(bad, field="--timeframe")  # type: ignore[arg-type]
    assert err.value.field == "--timeframe" and err.value.value == bad
    assert repr(bad) in str(err.value)


def test_timeframe_is_a_value() -> None:
    assert parse_timeframe("60m") == Timeframe("60m", 3600)
    assert parse_timeframe("60m").seconds == parse_timeframe("1h").seconds
