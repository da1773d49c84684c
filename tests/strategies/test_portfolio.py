"""The portfolio strategy path computes on arrays: `panel_field`, `weights` and
CrossSectionalMomentum each equal, to the last bit, their pandas formulation from before (kept
here as the reference), on the bundled panel and on short windows of it."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from nzeza.data import load_sample
from nzeza.errors import ValidationError
from nzeza.strategies.portfolio import CrossSectionalMomentum, panel_field, panel_symbols


def reference_field(panel: pd.DataFrame, name: str) -> pd.DataFrame:
    symbols = panel_symbols(panel)
    out = pd.DataFrame(
        {s: panel[(s, name)].to_numpy(dtype=np.float64) for s in symbols}, index=panel.index
    )
    out.columns.name = "symbol"
    return out


def reference_momentum(s: CrossSectionalMomentum, panel: pd.DataFrame) -> pd.DataFrame:
    close = reference_field(panel, "close")
    values = close.to_numpy()
    n, k = values.shape
    past = np.full_like(values, np.nan)
    if n > s.lookback:
        past[s.lookback :] = values[: -s.lookback]
    with np.errstate(divide="ignore", invalid="ignore"):
        momentum = values / past - 1.0
    ranked = np.where(np.isnan(momentum), -np.inf, momentum)
    if s.absolute:
        ranked = np.where(ranked > 0, ranked, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, : s.top]
    chosen = np.zeros((n, k), dtype=bool)
    rows = np.arange(n)[:, None]
    chosen[rows, order] = np.isfinite(ranked[rows, order])
    weights = np.where(chosen, min(s.max_weight, s.max_gross / s.top), 0.0)
    stamps = panel.index.asi8
    step = int(np.diff(stamps).min()) if n > 1 else 1
    due = (stamps // max(step, 1)) % s.rebalance == 0
    held = np.full((n, k), np.nan)
    held[due] = weights[due]
    return pd.DataFrame(held, index=panel.index, columns=close.columns).ffill().fillna(0.0)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample("bitstamp_1d")


def test_panel_field_equals_the_frame_per_symbol(panel) -> None:
    for name in ("open", "high", "low", "close", "volume"):
        pd.testing.assert_frame_equal(panel_field(panel, name), reference_field(panel, name))
    # a text column elsewhere in the panel: only the wanted columns are converted
    mixed = panel.copy()
    mixed[("BTC", "note")] = "x"
    pd.testing.assert_frame_equal(panel_field(mixed, "close"), reference_field(panel, "close"))
    with pytest.raises(ValidationError, match="has no vwap column"):
        panel_field(panel, "vwap")


def test_renaming_a_field_frame_in_place_stays_local(panel) -> None:
    first = panel_field(panel, "close")
    first.columns.name = "mine"
    assert panel_field(panel, "close").columns.name == "symbol"


def test_cross_sectional_momentum_equals_its_pandas_formulation(panel) -> None:
    grid = CrossSectionalMomentum.search_space
    for combo in itertools.product(*grid.values(), (True, False)):
        s = CrossSectionalMomentum(**dict(zip(grid, combo[:-1], strict=True)), absolute=combo[-1])
        pd.testing.assert_frame_equal(
            s.target_weights(panel), reference_momentum(s, panel), check_exact=True
        )
        for length in (1, 2, s.warmup, s.warmup + 40):
            part = panel.iloc[700 : 700 + length]
            pd.testing.assert_frame_equal(
                s.target_weights(part), reference_momentum(s, part), check_exact=True
            )
