"""Bar timeframes: `"1h"`, `"15m"`, `"1d"` → a fixed length in seconds, a pandas offset, ms.

The spelling is ccxt's (s, m, h, d, w; `m` is minutes), so the same string works for
`download_ohlcv`, `validate_ohlcv` and resampling. Calendar months (`1M`) are refused: they
have no fixed length, so gaps cannot be counted in bars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from nzeza.errors import ValidationError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# Lenient upper-case aliases; "M" stays refused because ccxt reads it as a month.
_ALIASES = {"S": "s", "H": "h", "D": "d", "W": "w", "min": "m"}
_PATTERN = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")


@dataclass(frozen=True)
class Timeframe:
    """A fixed bar length. `text` is the canonical ccxt spelling, e.g. `"1h"`."""

    text: str
    seconds: int  # 0 for a sub-second timeframe (sessions only): use `ns`
    ns: int = 0  # length in nanoseconds

    def __post_init__(self) -> None:
        if not self.ns:
            object.__setattr__(self, "ns", self.seconds * 1_000_000_000)

    @property
    def ms(self) -> int:
        """Length in milliseconds (ccxt and exchange timestamps are in ms)."""
        return self.seconds * 1000

    @cached_property
    def timedelta(self) -> pd.Timedelta:
        return pd.Timedelta(seconds=self.seconds)

    @cached_property
    def offset(self) -> pd.DateOffset:
        """A pandas offset (`to_offset("3600s")`), usable as `freq=` in `date_range`/`resample`."""
        return pd.tseries.frequencies.to_offset(f"{self.seconds}s")

    @property
    def divides_day(self) -> bool:
        """True when bars are anchored at 00:00 UTC every day (1m, 15m, 1h, 4h, 1d...)."""
        return self.seconds <= 86_400 and 86_400 % self.seconds == 0

    def __str__(self) -> str:
        return self.text


def parse_timeframe(
    value: str | Timeframe, field: str = "timeframe", subsecond: bool = False
) -> Timeframe:
    """Parse `"15m"`, `"1h"`, `"4h"`, `"1d"`, `"1w"` (also `"1H"`, `"1D"`, `"15min"`).

    With `subsecond` (live sessions aggregating trades), `"250ms"` too; historical bars and
    downloads never take one. Raises `ValidationError` naming `field` and the value for anything
    else, including `"1M"`.
    """
    if isinstance(value, Timeframe):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, value, "expected a string like '1m', '15m', '1h', '1d'")
    match = _PATTERN.match(value)
    if not match:
        raise ValidationError(field, value, "expected <number><unit>, e.g. '15m', '1h', '1d'")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "M":
        raise ValidationError(
            field, value, "calendar months have no fixed length; use '4w' or '30d'"
        )
    unit = _ALIASES.get(unit, unit)
    if unit == "ms" and subsecond and count > 0:
        if count % 1000 == 0:
            return parse_timeframe(f"{count // 1000}s", field)
        return Timeframe(text=f"{count}ms", seconds=0, ns=count * 1_000_000)
    if unit not in _UNITS:
        raise ValidationError(field, value, "unit must be one of s, m (minutes), h, d, w")
    if count <= 0:
        raise ValidationError(field, value, "the number of units must be positive")
    return Timeframe(text=f"{count}{unit}", seconds=count * _UNITS[unit])


def freq_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The bars' spacing: the median step of their index (one hour for fewer than three bars)."""
    if len(index) > 2:
        return pd.Timedelta(pd.Series(index).diff().median())
    return pd.Timedelta("1h")


_SPELLING = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def timeframe_of(bars: pd.DataFrame) -> str:
    """The bars' timeframe in ccxt spelling ("1h", "1d", "5s"): their median spacing."""
    seconds = max(round(freq_of(bars.index).total_seconds()), 1)
    for unit, size in _SPELLING:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"  # pragma: no cover (the last unit divides everything)


__all__ = ["Timeframe", "freq_of", "parse_timeframe", "timeframe_of"]
