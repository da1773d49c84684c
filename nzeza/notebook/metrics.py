"""How a notebook reports its key metrics to the pipeline that ran it."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def record_metrics(metrics_path: str | os.PathLike | None, metrics: Mapping[str, Any]) -> dict:
    """Write `metrics` (JSON-safe) to `metrics_path` when a pipeline injected one; return them."""
    clean = {str(k): _plain(v) for k, v in metrics.items()}
    if metrics_path:
        path = Path(metrics_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(clean, indent=2, sort_keys=True))
        os.replace(tmp, path)
    return clean


__all__ = [
    "record_metrics",
]
