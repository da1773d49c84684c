"""Reference formulations in pandas of what `nzeza.strategies.indicators` computes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def reference_rsi(close: pd.Series, period: int) -> pd.Series:
    """Cutler's RSI in pandas (the shipped strategies' formulation before the indicators)."""
    delta = close.diff()
    gain = delta.clip(lower=0).rolling(period).mean()
    loss = (-delta.clip(upper=0)).rolling(period).mean()
    rs = gain / loss.replace(0.0, np.nan)
    out = 100 - 100 / (1 + rs)
    return out.where(loss != 0, 100.0).where(gain.notna())
