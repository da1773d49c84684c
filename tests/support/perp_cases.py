"""Constructed perpetual cases with hand-computed expectations (funding, liquidation), shared
by the research, replay and session tests."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from nzeza.domain import Perpetual

HOUR = pd.Timedelta(hours=1)
START = pd.Timestamp("2024-01-01 00:00", tz="UTC")


class Scripted:
    """A strategy whose targets are given per bar (a test double; it looks at nothing)."""

    warmup = 1

    def __init__(self, targets: list[float]) -> None:
        self.values = list(targets)
        self.params: dict = {}

    def target(self, bars: pd.DataFrame) -> pd.Series:
        # by position from the start of the history: the same value per bar in every window
        index = bars.index
        first = int((index[0] - START) / HOUR)
        values = self.values[first : first + len(index)]
        values += [values[-1] if values else 0.0] * (len(index) - len(values))
        return pd.Series(values, index=index, dtype=float)


class LongShort(Scripted):
    """Long 5 hourly bars, short 5, then flat (no parameters: rebuilt from a session record)."""

    def __init__(self) -> None:
        super().__init__([1.0] * 5 + [-1.0] * 5 + [0.0] * 4)


def bars_of(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Hourly bars from (open, high, low, close) rows, starting at START."""
    index = pd.date_range(START, periods=len(rows), freq="1h", name="ts")
    frame = pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close"])
    frame["volume"] = 1.0
    return frame


def btc_perp(venue: str = "binance", mmr: str = "0.005") -> Perpetual:
    return Perpetual(
        venue,
        "BTC/USD:USD",
        "BTC",
        "USD",
        Decimal("1e-18"),
        Decimal("1e-18"),
        max_leverage=Decimal(20),
        maintenance_margin_rate=Decimal(mmr),
        funding_interval_hours=1,
    )


# -- funding: long 2 BTC at mark 50,000 across a +0.01 % funding time pays exactly 10 -------
FUNDING_CASH = 100_000.0  # all-in at 50,000 with no costs: exactly 2 BTC
FUNDING_BARS = bars_of([(50_000.0, 50_000.0, 50_000.0, 50_000.0)] * 5)
FUNDING_RATES = pd.Series(
    [0.0001], index=pd.DatetimeIndex([START + 2 * HOUR]), name="funding_rate"
)  # at bar 2's open, while the position bought at bar 1's open is held


# -- liquidation: a 10× long, 1,000 USD, fee 4 bps, mmr 0.5 % --------------------------------
# bought at bar 1's open (10,000): the buy is limited by the buying power 1,000 + 9 × 1,000, so
# q = 10,000 / 1.0004 / 10,000 = 1 / 1.0004 BTC, cash = −9,000, collateral = q × 10,000 − 9,000;
# liquidation: (q·E − C) / (q (1 − mmr)) = 9,000 × 1.0004 / 0.995 = 9,048.8442211055...
LIQ_CASH = 1_000.0
LIQ_FEE = 0.0004
LIQ_LEVERAGE = 10
LIQ_PRICE = 9_000 * 1.0004 / 0.995
LIQ_BARS = bars_of(
    [
        (10_000.0, 10_000.0, 10_000.0, 10_000.0),
        (10_000.0, 10_010.0, 9_950.0, 9_960.0),
        (9_960.0, 9_970.0, 9_100.0, 9_200.0),  # low above the liquidation price
        (9_200.0, 9_210.0, 9_000.0, 9_100.0),  # reaches it: liquidated at 9,048.84...
        (9_100.0, 9_300.0, 9_050.0, 9_250.0),
    ]
)


# the same strategy as a file a command loads (always `level`)
ALWAYS = """
import pandas as pd
from nzeza.strategies import Strategy


class Always(Strategy):
    level: float = 1.0

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return pd.Series(self.level, index=bars.index)
"""


__all__ = [
    "ALWAYS",
    "FUNDING_BARS",
    "FUNDING_CASH",
    "FUNDING_RATES",
    "HOUR",
    "LIQ_BARS",
    "LIQ_CASH",
    "LIQ_FEE",
    "LIQ_LEVERAGE",
    "LIQ_PRICE",
    "START",
    "Scripted",
    "bars_of",
    "btc_perp",
]
