"""OHLCV validation: find what is wrong with a bar frame and say exactly where.

`validate_ohlcv(df, "1h")` never changes the data; it returns an `OhlcvReport` listing every
offending timestamp per problem. With `strict=True` it raises `OhlcvValidationError` naming
the first bad timestamp (in time order), the field and the value.

Problems (the `problem` names used in the report and its frame):

| problem | meaning |
|---|---|
| `duplicate` | a timestamp occurs more than once (listed once) |
| `non_monotonic` | a row's timestamp is earlier than the previous row's |
| `gap` | bars missing for the timeframe; listed by the first missing bar, with a count |
| `misaligned` | a timestamp off the timeframe grid (bars anchored at 00:00 UTC) |
| `empty` | no rows at all (a file with a header only) |
| `nan` | a NaN in open/high/low/close/volume (first such field named) |
| `non_finite` | an infinite value in open/high/low/close/volume |
| `non_positive` | a price ≤ 0 |
| `negative_volume` | volume < 0 |
| `high_below` | high < max(open, close) |
| `low_above` | low > min(open, close) |
| `zero_volume_run` | ≥ `min_zero_volume_run` consecutive bars of volume 0 (filled outages) |
| `extreme_return` | abs(log(close / previous close)) > `max_abs_log_return` |
| `repeated_bar` | a bar whose five OHLCV values exactly equal an earlier bar's at another time |

`repeated_bar` catches exports that pasted a stretch of bars twice under different times (the
Coinbase sample repeats 2017-11-11 23:00–11-12 03:00 as 04:00–08:00). Flat bars with zero
volume are left to `zero_volume_run`, since those legitimately repeat.

Row checks (gap, runs, returns) work on the rows sorted by time, duplicates included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nzeza.data.schema import OHLCV_COLUMNS, PRICE_COLUMNS, check_ohlcv_columns, to_utc_index
from nzeza.data.timeframe import Timeframe, parse_timeframe
from nzeza.errors import DataError, show_value

PROBLEMS: tuple[str, ...] = (
    "empty",
    "duplicate",
    "non_monotonic",
    "gap",
    "misaligned",
    "nan",
    "non_finite",
    "non_positive",
    "negative_volume",
    "high_below",
    "low_above",
    "zero_volume_run",
    "extreme_return",
    "repeated_bar",
)

# Defaults, with their reason:
# - 3 zero-volume bars in a row: a single empty bar happens on quiet markets; three or more in
#   the bundled real data are flat filled bars during exchange outages.
# - |log return| 0.5 (+65 % / -39 % in one bar): the largest real moves in the bundled samples
#   are 0.21 (hourly) and 0.39 (daily), so this catches unit errors and bad ticks, not crashes.
DEFAULT_MIN_ZERO_VOLUME_RUN = 3
DEFAULT_MAX_ABS_LOG_RETURN = 0.5

_SHOW = 5  # timestamps shown per problem in str(report)


@dataclass(frozen=True)
class OhlcvIssue:
    """One problem at one timestamp. `value` is the offending value (or a count for runs/gaps)."""

    problem: str
    time: pd.Timestamp
    field: str
    value: Any
    detail: str


@dataclass(frozen=True)
class OhlcvReport:
    """What `validate_ohlcv` found. Lists hold timestamps (UTC); gaps and runs hold (start, n)."""

    timeframe: str
    rows: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    duplicates: list[pd.Timestamp] = field(default_factory=list)
    non_monotonic: list[pd.Timestamp] = field(default_factory=list)
    gaps: list[tuple[pd.Timestamp, int]] = field(default_factory=list)
    misaligned: list[pd.Timestamp] = field(default_factory=list)
    nan: list[pd.Timestamp] = field(default_factory=list)
    non_finite: list[pd.Timestamp] = field(default_factory=list)
    non_positive: list[pd.Timestamp] = field(default_factory=list)
    negative_volume: list[pd.Timestamp] = field(default_factory=list)
    high_below: list[pd.Timestamp] = field(default_factory=list)
    low_above: list[pd.Timestamp] = field(default_factory=list)
    zero_volume_runs: list[tuple[pd.Timestamp, int]] = field(default_factory=list)
    extreme_returns: list[pd.Timestamp] = field(default_factory=list)
    repeated_bars: list[pd.Timestamp] = field(default_factory=list)
    issues: list[OhlcvIssue] = field(default_factory=list)
    min_zero_volume_run: int | None = DEFAULT_MIN_ZERO_VOLUME_RUN
    max_abs_log_return: float | None = DEFAULT_MAX_ABS_LOG_RETURN

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def counts(self) -> dict[str, int]:
        """Number of issues per problem, every problem listed (zeros included)."""
        out = dict.fromkeys(PROBLEMS, 0)
        for issue in self.issues:
            out[issue.problem] += 1
        return out

    @property
    def missing_bars(self) -> int:
        return sum(n for _, n in self.gaps)

    @property
    def first_issue(self) -> OhlcvIssue | None:
        return self.issues[0] if self.issues else None

    def to_frame(self) -> pd.DataFrame:
        """One row per issue: problem, time, field, value, detail (sorted by time)."""
        cols = ["problem", "time", "field", "value", "detail"]
        rows = [[getattr(i, c) for c in cols] for i in self.issues]
        return pd.DataFrame(rows, columns=cols)

    def raise_if_bad(self) -> OhlcvReport:
        """Raise `OhlcvValidationError` for the first issue, or return self when clean."""
        if self.issues:
            raise OhlcvValidationError(self)
        return self

    def __str__(self) -> str:
        span = f"{_fmt(self.start)} → {_fmt(self.end)}" if self.rows else "empty"
        head = f"OHLCV report: {self.rows:,} rows of {self.timeframe}, {span}"
        if self.ok:
            return f"{head}: OK"
        lines = [f"{head}: {len(self.issues):,} issue(s)"]
        by_problem: dict[str, list[OhlcvIssue]] = {}
        for issue in self.issues:
            by_problem.setdefault(issue.problem, []).append(issue)
        for problem in PROBLEMS:
            found = by_problem.get(problem)
            if not found:
                continue
            extra = f" ({self.missing_bars:,} missing bars)" if problem == "gap" else ""
            lines.append(f"  {problem:<16} {len(found):>6,}{extra}")
            for issue in found[:_SHOW]:
                lines.append(f"      {_fmt(issue.time)}  {issue.detail}")
            if len(found) > _SHOW:
                lines.append(f"      ... {len(found) - _SHOW:,} more")
        return "\n".join(lines)


class OhlcvValidationError(DataError):
    """Strict validation failed: names the first bad timestamp, the field and its value."""

    def __init__(self, report: OhlcvReport) -> None:
        first = report.first_issue
        assert first is not None
        self.report = report
        self.problem = first.problem
        self.time = first.time
        self.field = first.field
        self.value = first.value
        others = {k: v for k, v in report.counts.items() if v}
        super().__init__(
            f"OHLCV {first.problem} at {_fmt(first.time)}: {first.field}="
            f"{show_value(first.value)}: {first.detail} "
            f"({len(report.issues)} issue(s) in total: {others})"
        )


def _fmt(ts: pd.Timestamp | None) -> str:
    if ts is None or pd.isna(ts):
        return "NaT"
    return ts.strftime("%Y-%m-%d %H:%M:%S%z").replace("+0000", "Z")


def validate_ohlcv(
    df: pd.DataFrame,
    timeframe: str | Timeframe,
    strict: bool = False,
    *,
    min_zero_volume_run: int | None = DEFAULT_MIN_ZERO_VOLUME_RUN,
    max_abs_log_return: float | None = DEFAULT_MAX_ABS_LOG_RETURN,
) -> OhlcvReport:
    """Check an OHLCV frame (see the module table); `None` disables a threshold check.

    `df` needs a DatetimeIndex of bar open times (naive = UTC) and the five OHLCV columns.
    """
    tf = parse_timeframe(timeframe)
    check_ohlcv_columns(df)
    if min_zero_volume_run is not None and min_zero_volume_run < 1:
        from nzeza.errors import ValidationError

        raise ValidationError("min_zero_volume_run", min_zero_volume_run, "must be >= 1 or None")
    idx = to_utc_index(df.index)
    values = {c: df[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in OHLCV_COLUMNS}
    issues: list[OhlcvIssue] = []
    found: dict[str, list[Any]] = {p: [] for p in PROBLEMS}

    def add(problem: str, time: pd.Timestamp, fld: str, value: Any, detail: str, key: Any = None):
        found[problem].append(time if key is None else key)
        issues.append(OhlcvIssue(problem, time, fld, value, detail))

    if len(df) == 0:
        add("empty", pd.NaT, "rows", 0, "no bars: the frame or file has no rows")
    _check_index(idx, tf, add)

    # Row checks run in time order (a stable sort keeps duplicates in their given order).
    order = np.argsort(idx.asi8, kind="stable")
    t = idx[order]
    o, h, lo, c, v = (values[k][order] for k in OHLCV_COLUMNS)
    _check_rows(t, o, h, lo, c, v, add)
    if min_zero_volume_run is not None:
        _check_zero_volume(t, v, min_zero_volume_run, add)
    if max_abs_log_return is not None:
        _check_returns(t, c, max_abs_log_return, add)
    _check_repeats(t, o, h, lo, c, v, add)

    issues.sort(key=lambda i: (pd.isna(i.time), i.time if not pd.isna(i.time) else 0))
    report = OhlcvReport(
        timeframe=tf.text,
        rows=len(df),
        start=t[0] if len(t) else None,
        end=t[-1] if len(t) else None,
        duplicates=found["duplicate"],
        non_monotonic=found["non_monotonic"],
        gaps=found["gap"],
        misaligned=found["misaligned"],
        nan=found["nan"],
        non_finite=found["non_finite"],
        non_positive=found["non_positive"],
        negative_volume=found["negative_volume"],
        high_below=found["high_below"],
        low_above=found["low_above"],
        zero_volume_runs=found["zero_volume_run"],
        extreme_returns=found["extreme_return"],
        repeated_bars=found["repeated_bar"],
        issues=issues,
        min_zero_volume_run=min_zero_volume_run,
        max_abs_log_return=max_abs_log_return,
    )
    if strict:
        report.raise_if_bad()
    return report


def _check_index(idx: pd.DatetimeIndex, tf: Timeframe, add: Any) -> None:
    for ts in idx[idx.isna()][:1]:
        add("nan", ts, "time", None, f"{int(idx.isna().sum())} row(s) without a timestamp")
    valid = idx[~idx.isna()]
    counts = valid.value_counts(sort=False)
    for ts, n in counts[counts > 1].sort_index().items():
        add("duplicate", ts, "time", ts, f"timestamp appears {int(n)} times")
    i8 = valid.asi8
    back = np.flatnonzero(i8[1:] < i8[:-1]) + 1
    for i in back:
        add("non_monotonic", valid[i], "time", valid[i], f"follows later row {_fmt(valid[i - 1])}")
    uniq = np.unique(i8)
    step = tf.seconds * 1_000_000_000
    if tf.divides_day:
        for ns in uniq[uniq % step != 0]:
            ts = pd.Timestamp(ns, tz="UTC")
            add("misaligned", ts, "time", ts, f"not on the {tf.text} grid anchored at 00:00 UTC")
    diffs = np.diff(uniq)
    for i in np.flatnonzero(diffs > step):
        missing = int(diffs[i] // step) - (1 if diffs[i] % step == 0 else 0)
        if missing <= 0:
            continue
        first = pd.Timestamp(uniq[i] + step, tz="UTC")
        detail = f"{missing} missing {tf.text} bar(s) from {_fmt(first)}"
        add("gap", first, "time", missing, detail, key=(first, missing))


def _check_rows(t, o, h, lo, c, v, add) -> None:
    cols = (o, h, lo, c, v)
    nan_any = np.zeros(len(t), dtype=bool)
    for arr in cols:
        nan_any |= np.isnan(arr)
    for i in np.flatnonzero(nan_any):
        fld = next(name for name, arr in zip(OHLCV_COLUMNS, cols, strict=True) if np.isnan(arr[i]))
        add("nan", t[i], fld, float("nan"), f"{fld} is NaN")
    inf_any = np.zeros(len(t), dtype=bool)
    for arr in cols:
        inf_any |= np.isinf(arr)
    for i in np.flatnonzero(inf_any):
        fld = next(name for name, arr in zip(OHLCV_COLUMNS, cols, strict=True) if np.isinf(arr[i]))
        value = float(cols[OHLCV_COLUMNS.index(fld)][i])
        add("non_finite", t[i], fld, value, f"{fld} is {value!r}")
    with np.errstate(invalid="ignore"):
        prices = np.vstack((o, h, lo, c))
        bad_price = (prices <= 0).any(axis=0)
        for i in np.flatnonzero(bad_price):
            k = int(np.argmax(prices[:, i] <= 0))
            fld = PRICE_COLUMNS[k]
            add("non_positive", t[i], fld, float(prices[k, i]), f"{fld} {prices[k, i]!r} <= 0")
        for i in np.flatnonzero(v < 0):
            add("negative_volume", t[i], "volume", float(v[i]), f"volume {v[i]!r} < 0")
        top = np.maximum(o, c)
        for i in np.flatnonzero(h < top):
            add(
                "high_below",
                t[i],
                "high",
                float(h[i]),
                f"high {h[i]!r} < max(open, close) {top[i]!r}",
            )
        bottom = np.minimum(o, c)
        for i in np.flatnonzero(lo > bottom):
            add(
                "low_above",
                t[i],
                "low",
                float(lo[i]),
                f"low {lo[i]!r} > min(open, close) {bottom[i]!r}",
            )


def _check_zero_volume(t, v, min_run: int, add) -> None:
    zero = np.concatenate(([False], v == 0, [False]))
    edges = np.flatnonzero(zero[1:] != zero[:-1])
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        n = int(stop - start)
        if n >= min_run:
            detail = (
                f"{n} consecutive zero-volume bars from {_fmt(t[start])} to {_fmt(t[stop - 1])}"
            )
            add("zero_volume_run", t[start], "volume", 0.0, detail, key=(t[start], n))


def _check_returns(t, c, threshold: float, add) -> None:
    if len(c) < 2:
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(c[1:] / c[:-1])
    bad = np.isfinite(r) & (np.abs(r) > threshold)
    for i in np.flatnonzero(bad) + 1:
        lr = float(r[i - 1])
        detail = f"log return {lr:+.4f} (close {c[i - 1]!r} → {c[i]!r}), limit ±{threshold}"
        add("extreme_return", t[i], "close", float(c[i]), detail)


def _check_repeats(t, o, h, lo, c, v, add) -> None:
    vals = np.column_stack((o, h, lo, c, v))
    keep = ~((h == lo) & (v == 0)) & ~np.isnan(vals).any(axis=1)
    vals, times = vals[keep], t[keep]
    frame = pd.DataFrame(vals)
    dup = frame.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    first_time: dict[tuple, pd.Timestamp] = {}
    for i in np.flatnonzero(frame.duplicated(keep=False).to_numpy()):
        first = first_time.setdefault(tuple(vals[i]), times[i])
        if dup[i] and first != times[i]:  # same time = a duplicate row, reported as such
            detail = f"same open/high/low/close/volume as the bar at {_fmt(first)}"
            add("repeated_bar", times[i], "close", float(vals[i, 3]), detail)


__all__ = [
    "DEFAULT_MAX_ABS_LOG_RETURN",
    "DEFAULT_MIN_ZERO_VOLUME_RUN",
    "PROBLEMS",
    "OhlcvIssue",
    "OhlcvReport",
    "OhlcvValidationError",
    "validate_ohlcv",
]
