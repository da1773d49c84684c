"""Numbers and tables for people: what the commands print (`--json` keeps full precision).

human(8.0) → "8"    human(0.1251029426222024) → "0.1251"    human(12345.678) → "12,345.68"
human(9.99000999000999) → "9.99"    human(2.0e-15) → "2e-15"
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any


def human(value: Any, digits: int = 4) -> str:
    """A number rounded for reading: whole numbers without decimals (thousands separated),
    large ones to cents, small ones to `digits` significant digits; anything else as str."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, Decimal):
        value = float(value)
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    if abs(value) >= 1000:
        return f"{value:,.2f}"
    if abs(value) >= 1:
        return f"{value:.{max(digits - 1, 2)}f}".rstrip("0").rstrip(".")
    if abs(value) >= 1e-4:
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return f"{value:.{digits - 1}g}"


def table(frame: Any, *, index: bool = True, width: int = 160) -> str:
    """A DataFrame (or Series) as text with every number through `human`, columns aligned."""
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    shown = frame.copy()
    for col in shown.columns:
        series = shown[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            shown[col] = [human(v) for v in series.tolist()]
        elif pd.api.types.is_datetime64_any_dtype(series):
            shown[col] = series.dt.strftime("%Y-%m-%d %H:%M")
        elif series.dtype == object:
            shown[col] = [human(v) if isinstance(v, float | int) else v for v in series.tolist()]
    with pd.option_context("display.width", width, "display.max_columns", 40):
        return shown.to_string(index=index, justify="right")


def when(ns: int | None) -> str:
    """A ledger timestamp (UTC nanoseconds) as `2026-12-02 06:33 UTC`."""
    if ns is None:
        return "-"
    import pandas as pd

    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


__all__ = ["human", "table", "when"]
