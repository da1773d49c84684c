from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def hourly() -> pd.DataFrame:
    """A deterministic random-walk hourly series (engine tests that need real data use samples)."""
    rng = np.random.default_rng(7)
    n = 2000
    idx = pd.date_range("2021-01-01", periods=n, freq="h", tz="UTC", name="time")
    close = 30000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": rng.uniform(1, 10, n)},
        index=idx,
    )
