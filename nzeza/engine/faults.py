"""Crash points for recovery tests: `NZEZA_CRASH_AT=point:n` kills the process (like kill -9,
no cleanup, no flush) the n-th time the session reaches `point`. Unset in normal runs: one
dictionary lookup per point."""

from __future__ import annotations

import os

POINTS = ("after_journal", "after_submit", "after_fill", "after_bar")
_counts: dict[str, int] = {}


def crash_point(point: str) -> None:
    spec = os.environ.get("NZEZA_CRASH_AT")
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(nth or 1):
        os._exit(137)


__all__ = [
    "POINTS",
    "crash_point",
]
