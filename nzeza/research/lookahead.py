"""The lookahead check: does the strategy's target at a bar change when the future is removed?

The target is recomputed on histories truncated at many cut points and compared with the full
run on every bar up to the cut. Any difference means the value at that bar used data after it:
`shift(-1)`, centered windows, whole-history normalisation and back-filling are all caught.

A portfolio strategy (one with `weights(panel)`) is checked the same way on its weights: every
symbol's weight at every bar up to the cut must equal the full run's; the report names the first
offending bar and symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nzeza.strategies.portfolio import panel_symbols


@dataclass
class LookaheadReport:
    ok: bool
    cuts: int
    first_offending_timestamp: pd.Timestamp | None = None
    cut_at: pd.Timestamp | None = None
    full_value: float | None = None
    truncated_value: float | None = None
    offending_cuts: list[pd.Timestamp] = field(default_factory=list)
    symbol: str | None = None  # a portfolio strategy's first offending symbol

    def __str__(self) -> str:
        if self.ok:
            return (
                f"lookahead check passed: {self.cuts} truncated histories agree with the full run"
            )
        what = "target" if self.symbol is None else f"weight of {self.symbol}"
        return (
            f"LOOKAHEAD at {self.first_offending_timestamp}: {what} {self.full_value} on the "
            f"full history but {self.truncated_value} when history ends at {self.cut_at} "
            f"({len(self.offending_cuts)} of {self.cuts} cuts disagree)"
        )


def check_lookahead(
    strategy: Any,
    bars: pd.DataFrame,
    n_cuts: int = 40,
    tolerance: float = 1e-9,
    seed: int = 0,
    progress: bool = False,
) -> LookaheadReport:
    """Compare targets on `n_cuts` truncated histories with the full-history targets
    (`progress`: a progress bar over the cuts, tqdm on stderr). A portfolio strategy: its
    `weights(panel)`, every symbol (`bars` is the panel)."""
    from tqdm.auto import tqdm

    portfolio = hasattr(strategy, "weights")

    def values(part: pd.DataFrame) -> np.ndarray:
        if portfolio:
            return strategy.weights(part).to_numpy(dtype=float)
        return strategy.targets(part).to_numpy(dtype=float)[:, None]

    full = values(bars)
    n = len(bars)
    start = min(max(int(getattr(strategy, "warmup", 1)), 2), n - 1)
    rng = np.random.default_rng(seed)
    even = np.linspace(start, n - 2, num=min(n_cuts // 2, max(n - start - 1, 1)), dtype=int)
    rand: Any = rng.integers(start, n - 1, size=n_cuts - len(even)) if n - 1 > start else []
    cuts = sorted(set(even.tolist()) | set(np.asarray(rand).tolist()))
    first: tuple[int, int, int, float, float] | None = None
    offending: list[pd.Timestamp] = []
    for cut in tqdm(cuts, desc="lookahead", unit="cut", disable=not progress):
        part = values(bars.iloc[: cut + 1])
        diff = np.argwhere(np.abs(part - full[: cut + 1]) > tolerance)  # row-major: bar first
        if len(diff):
            offending.append(bars.index[cut])
            i, j = (int(x) for x in diff[0])
            if first is None or i < first[0]:
                first = (i, j, cut, float(full[i, j]), float(part[i, j]))
    if first is None:
        return LookaheadReport(True, len(cuts))
    i, j, cut, fv, tv = first
    symbol = panel_symbols(bars)[j] if portfolio else None
    return LookaheadReport(
        False, len(cuts), bars.index[i], bars.index[cut], fv, tv, offending, symbol
    )


__all__ = [
    "LookaheadReport",
    "check_lookahead",
]
