"""An example of a strategy of one's own, kept in a file (no package, no install needed).

Run it from the notebooks folder with any command that takes a strategy:

    nzeza backtest strategies/above_mean.py:AboveMean --params window=96
    nzeza validate strategies/above_mean.py:AboveMean

`notebooks/07_my_strategy.ipynb` backtests, sweeps, validates, checks and tries to promote it;
`docs/strategies.md` explains each part.
"""

from typing import ClassVar

import pandas as pd

from nzeza.strategies import Strategy


class AboveMean(Strategy):
    """Long while the close is above its mean of the last `window` bars, flat otherwise."""

    description = "long above the N-bar mean"
    window: int = 48  # a parameter: annotated, with a default
    size: float = 1.0  # the exposure when long
    search_space: ClassVar[dict] = {"window": [24, 48, 96, 168], "size": [0.5, 1.0]}

    def validate(self) -> None:
        self.require(self.window >= 2, "window", "must be at least 2 bars")
        self.require(0 < self.size <= 1, "size", "must be in (0, 1]")

    @property
    def warmup(self) -> int:
        return self.window

    def target(self, bars: pd.DataFrame) -> pd.Series:
        close = bars["close"]
        above = close > close.rolling(self.window).mean()  # uses bars up to each close only
        return above.astype(float) * self.size
