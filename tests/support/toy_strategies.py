"""Small lookahead-free strategies for engine tests."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd


class SmaLike:
    """A small lookahead-free SMA cross used by engine tests (long/short with `short`)."""

    params: ClassVar[dict] = {"fast": 5, "slow": 20}

    def __init__(self, short: bool = False, scale: float = 1.0) -> None:
        self.short = short
        self.scale = scale
        self.warmup = 20

    def target(self, bars: pd.DataFrame) -> pd.Series:
        fast = bars["close"].rolling(5).mean()
        slow = bars["close"].rolling(20).mean()
        sig = np.sign(fast - slow) if self.short else (fast > slow).astype(float)
        return (sig * self.scale).where(slow.notna(), 0.0).astype(float)


class Explodes(SmaLike):
    """SmaLike that raises once it has seen `at` bars: an error in the middle of a session."""

    def __init__(self, at: int = 40, short: bool = True) -> None:
        super().__init__(short=short)
        self.at = at
        self.seen = 0

    def target(self, bars: pd.DataFrame) -> pd.Series:
        self.seen += 1
        if self.seen >= self.at:
            raise ValueError(f"boom at call {self.seen}")
        return super().target(bars)
