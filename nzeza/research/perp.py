"""Perpetual backtests: the one fill rule with leverage, funding and liquidation.

The same strategies and the same next-open fill rule and `Costs` as `nzeza.research.backtest`
(same float operations as its kernel, so leverage 1 with no funding and no liquidation gives
its trades and equity), plus what a perpetual adds (`nzeza.domain.perpetual` states the margin
model). Spot-style accounting: `cash` moves by each fill's notional and fee and by funding;
equity = cash + position × close. Within bar i, in this order:

1. the order due at the open (the target decided at bar i−1's close changed) fills: the
   position moves to target × leverage × equity / open, equity valued at the open; buys fill
   at open × (1 + slippage), sells at open × (1 − slippage), fee × notional; a buy is limited
   by the buying power cash + (leverage − 1) × equity (at leverage 1: the spot rule's cash);
2. liquidation: the position's collateral is cash + position × average entry (the wallet
   balance: fills, fees and funding, before unrealized PnL); if the bar's adverse extreme (low
   for a long, high for a short) reaches the liquidation price, the whole position is closed
   at that price with the taker fee (`costs.fee`) and the trade's `exit_reason` is
   "liquidation". The strategy's target is not reset: a new position opens only when the
   target changes again;
3. funding: every funding time T with bar i's open ≤ T < bar i+1's open is applied to the
   position held then: cash += −position × mark × rate (in Decimal, as the ledger books it),
   mark = the mark series at T (as of) if given, else bar i's close; nothing is booked while
   flat;
4. equity at the close = cash + position × close.

A plain-Python loop over the bars (no vectorbt: it has no funding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from nzeza.data.timeframe import freq_of
from nzeza.domain import Costs, Perpetual, to_decimal
from nzeza.domain.perpetual import funding_payment, liquidation_price
from nzeza.errors import ValidationError
from nzeza.research.backtest import TRADE_COLUMNS, Simulation, check_inputs, ffill, trades_frame
from nzeza.research.kernel import (
    ABS_TOL,
    BUY,
    MIN_SIZE,
    SELL,
    add,
    exit_trades,
    is_close_or_less,
    is_less,
)

PERP_TRADE_COLUMNS = [*TRADE_COLUMNS, "exit_reason"]
FUNDING_COLUMN = "funding_rate"


def funding_series(frame: pd.DataFrame | pd.Series) -> pd.Series:
    """A funding series (`funding_rate`, UTC index) from a Series or a frame with `ts` and
    `funding_rate` columns (ts: UTC datetimes or epoch ms/ns); typed errors for anything else.

    A frame's `mark` column (the price each payment was booked at, as `nzeza data funding`
    caches it; NaN where unknown) comes along as `attrs["mark"]`, the funding marks."""
    marks = None
    if isinstance(frame, pd.Series):
        series = frame.rename(FUNDING_COLUMN)
        marks = frame.attrs.get("mark")
    else:
        missing = [c for c in ("ts", FUNDING_COLUMN) if c not in frame.columns]
        if missing:
            raise ValidationError("funding", list(frame.columns), f"needs columns {missing}")
        ts = frame["ts"]
        if pd.api.types.is_numeric_dtype(ts):
            unit = "ms" if ts.abs().max() < 10**14 else "ns"
            index = pd.to_datetime(ts, unit=unit, utc=True)
        else:
            index = pd.to_datetime(ts, utc=True)
        series = pd.Series(frame[FUNDING_COLUMN].to_numpy(), index=pd.DatetimeIndex(index))
        series = series.rename(FUNDING_COLUMN)
        if "mark" in frame.columns:
            mark = pd.to_numeric(frame["mark"], errors="coerce").to_numpy(dtype=float)
            marks = pd.Series(mark, index=series.index, name="mark")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ValidationError("funding.index", type(series.index).__name__, "must be datetimes")
    if series.index.tz is None:
        series.index = series.index.tz_localize("UTC")
    values = pd.to_numeric(series, errors="coerce").astype(float)
    bad = np.flatnonzero(~np.isfinite(values.to_numpy()))
    if len(bad):
        raise ValidationError(
            FUNDING_COLUMN,
            series.iloc[bad[0]],
            f"must be a finite rate (at {series.index[bad[0]]})",
        )
    if not values.index.is_monotonic_increasing or values.index.has_duplicates:
        raise ValidationError("funding.index", "unsorted", "funding times must increase")
    out = values.rename(FUNDING_COLUMN)
    out.attrs = {}
    if marks is not None:
        marks = marks.copy()
        if marks.index.tz is None:
            marks.index = marks.index.tz_localize("UTC")
        bad = np.flatnonzero(~(marks.to_numpy(dtype=float) > 0) & ~np.isnan(marks.to_numpy()))
        if len(bad):
            raise ValidationError("mark", marks.iloc[bad[0]], "must be a positive price or NaN")
        out.attrs["mark"] = marks
    return out


CACHE_PREFIX = "ccxt:"


def read_funding(path: str, cache_dir: Any = None) -> pd.Series:
    """A funding history: a file (CSV or Parquet with `ts` and `funding_rate` columns, and
    optionally `mark`), or `ccxt:VENUE:SYMBOL`, the local cache that `nzeza data funding VENUE
    SYMBOL` fills (`nzeza.data.funding.load_funding`, its marks included; `cache_dir` default:
    `$NZEZA_DATA_DIR/ohlcv`)."""
    from pathlib import Path

    if path.startswith(CACHE_PREFIX):
        venue, _, symbol = path[len(CACHE_PREFIX) :].partition(":")
        if not venue or not symbol:
            raise ValidationError(
                "funding", path, "must be ccxt:VENUE:SYMBOL, e.g. ccxt:binanceusdm:BTC/USDT:USDT"
            )
        from nzeza.data.funding import load_funding
        from nzeza.errors import DataError

        try:
            rates = load_funding(venue, symbol, cache_dir)
        except DataError as exc:
            raise ValidationError("funding", path, str(exc)) from None
        return funding_series(rates)
    file = Path(path)
    if not file.is_file():
        raise ValidationError("funding", path, "is not a file")
    if file.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(file)
    elif file.suffix.lower() == ".csv":
        frame = pd.read_csv(file)
    else:
        raise ValidationError("funding", path, "must be a .csv or .parquet file")
    if FUNDING_COLUMN in frame.columns and "ts" not in frame.columns:
        frame = frame.reset_index().rename(columns={frame.index.name or "index": "ts"})
    return funding_series(frame)


def funding_digest(rates: pd.Series | None) -> str | None:
    """16 hex of the sha256 of a funding series' times and rates (None: no funding)."""
    import hashlib

    if rates is None:
        return None
    blob = rates.index.as_unit("ns").asi8.tobytes() + rates.to_numpy(float).tobytes()
    return hashlib.sha256(blob).hexdigest()[:16]


def perp_terms(spec: Perpetual, leverage: float, rates: pd.Series | None) -> dict[str, Any]:
    """The perpetual's part of a trial's cost key (`costs_json(terms=...)`): venue, leverage,
    maintenance terms and the funding data's digest. One function for single backtests, sweeps
    and walk-forwards, so the same run is the same trial whichever made it."""
    return {
        "perp": {
            "venue": spec.venue,
            "leverage": float(leverage),
            "maintenance_margin_rate": str(spec.maintenance_margin_rate),
            "tiers": [[str(t.notional_cap), str(t.rate), str(t.amount)] for t in spec.tiers],
            "funding": funding_digest(rates),
        }
    }


@dataclass(frozen=True)
class PerpSetup:
    """How research runs a strategy as a perpetual: the instrument, the leverage and the
    funding (and mark) history; `backtest` is `backtest_perp` with them, `terms` the cost-key
    part its trials carry. Checked at construction (leverage against the spec, the funding
    series as `funding_series` reads it)."""

    spec: Perpetual
    leverage: float = 1.0
    funding: pd.Series | None = None
    mark: pd.Series | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.spec, Perpetual):
            raise ValidationError("spec", type(self.spec).__name__, "must be a Perpetual")
        object.__setattr__(self, "leverage", float(self.spec.check_leverage(self.leverage)))
        if self.funding is not None:
            rates = funding_series(self.funding)
            object.__setattr__(self, "funding", rates)
            if self.mark is None:
                object.__setattr__(self, "mark", rates.attrs.get("mark"))

    @property
    def terms(self) -> dict[str, Any]:
        return perp_terms(self.spec, self.leverage, self.funding)

    def backtest(
        self, strategy: Any, bars: pd.DataFrame, costs: Costs, init_cash: float, **kw: Any
    ) -> PerpResult:
        return backtest_perp(
            strategy, bars, self.spec, costs, init_cash, leverage=self.leverage,
            funding=self.funding, mark=self.mark, **kw,
        )  # fmt: skip


@dataclass(frozen=True)
class PerpSimulation:
    """The loop's output: equity per bar, fills (with a liquidation flag), the funding applied
    (time, bar, position, mark, rate, amount), margin per bar, the liquidations."""

    equity: np.ndarray
    fills: dict[str, np.ndarray]
    funding: dict[str, np.ndarray]
    margin: np.ndarray  # initial margin in use / equity at the close (0 when flat)
    cash: np.ndarray
    position: np.ndarray
    liquidations: list[dict[str, Any]]


def funding_at_bars(
    index: pd.DatetimeIndex, funding: pd.Series | None, mark: pd.Series | None
) -> list[tuple[int, int, float, float]]:
    """(bar, time ns, rate, mark or NaN) for each funding time inside the bars' span."""
    if funding is None or not len(funding) or not len(index):
        return []
    utc = index if index.tz is not None else index.tz_localize("UTC")
    bar_ns = utc.as_unit("ns").asi8
    times = pd.DatetimeIndex(funding.index).as_unit("ns").asi8
    step = int(np.median(np.diff(bar_ns))) if len(bar_ns) > 1 else 0
    bars = np.searchsorted(bar_ns, times, side="right") - 1
    inside = (bars >= 0) & (times < bar_ns[-1] + step)
    marks = np.full(len(times), math.nan)
    if mark is not None:
        m = mark.sort_index()
        if m.index.tz is None:
            m.index = m.index.tz_localize("UTC")
        m = m[~m.index.duplicated(keep="last")]
        marks = m.reindex(funding.index, method="ffill").to_numpy(dtype=float)
    rates = funding.to_numpy(dtype=float)
    return [
        (int(bars[k]), int(times[k]), float(rates[k]), float(marks[k]))
        for k in np.flatnonzero(inside)
    ]


def _moved(pos: float, entry: float, signed: float, price: float) -> tuple[float, float]:
    """Position and average entry after a fill of `signed` units at `price`: adding averages
    the entry, reducing keeps it, opening or flipping starts it at `price`."""
    after = add(pos, signed)
    if after == 0:
        return 0.0, 0.0
    if pos == 0 or (after > 0) != (pos > 0):
        return after, price
    if (signed > 0) == (pos > 0):
        return after, (pos * entry + signed * price) / after
    return after, entry


def simulate_perp(
    targets: Any,
    bars: pd.DataFrame,
    costs: Costs,
    init_cash: float,
    spec: Perpetual,
    leverage: float,
    funding: pd.Series | None = None,
    mark: pd.Series | None = None,
) -> PerpSimulation:
    """The loop of the module docstring over `targets` (fractions of equity in [−1, 1], one
    per bar, NaN = no decision), scaled by `leverage`."""
    n = len(targets)
    # plain floats: the loop does scalar arithmetic only
    targets = np.asarray(targets, dtype=np.float64).tolist()
    open_arr = bars["open"].to_numpy(dtype=np.float64)
    open_ = open_arr.tolist()
    high = bars["high"].to_numpy(dtype=np.float64).tolist()
    low = bars["low"].to_numpy(dtype=np.float64).tolist()
    close = bars["close"].to_numpy(dtype=np.float64).tolist()
    val_price = ffill(open_arr).tolist()
    fee, slip = costs.fee, costs.slippage
    lev = float(leverage)
    mmr = float(spec.maintenance_margin_rate)
    imr_used = 1.0 / lev
    tiers = spec.tiers
    events = funding_at_bars(pd.DatetimeIndex(bars.index), funding, mark)
    ev = 0
    cash, pos, entry = float(init_cash), 0.0, 0.0
    f: dict[str, list] = {k: [] for k in ("bar", "size", "price", "fees", "side", "liquidation")}
    fund: dict[str, list] = {k: [] for k in ("bar", "ts", "position", "mark", "rate", "amount")}
    equity = np.empty(n)
    margin = np.zeros(n)
    cash_out = np.empty(n)
    pos_out = np.empty(n)
    liquidations: list[dict[str, Any]] = []

    def book(i: int, size: float, price: float, fees: float, side: int, liq: bool) -> None:
        for key, value in zip(f, (i, size, price, fees, side, liq), strict=True):
            f[key].append(value)

    for i in range(n):
        # (1) the order due at this open
        if i > 0 and not math.isnan(targets[i - 1]):
            prev = targets[i - 2] if i > 1 else 0.0
            change = targets[i - 1] - prev if i > 1 else targets[i - 1]
            if change != 0:
                if abs(cash) <= ABS_TOL:
                    cash = 0.0
                if abs(pos) <= ABS_TOL:
                    pos = 0.0
                vp, price = val_price[i], open_[i]
                value = cash + pos * vp if pos != 0 else cash
                if not (math.isnan(value) or value <= 0 or math.isnan(price) or math.isnan(vp)):
                    order = targets[i - 1] * lev * value / vp - pos
                    if order > 0:
                        adj = price * (1 + slip)
                        power = cash + (lev - 1.0) * value if lev != 1.0 else cash
                        req = order * adj
                        req_fees = req * fee + 0.0
                        total = req + req_fees
                        if power > 0:
                            if is_close_or_less(total, power):
                                filled, paid, spent = order, req_fees, total
                            else:
                                max_req = add(power, -0.0) / (1 + fee)
                                filled = max_req / adj
                                paid = power - max_req
                                spent = power
                            if filled > 0 and not (order <= ABS_TOL or is_less(filled, MIN_SIZE)):
                                cash = add(cash, -spent)
                                pos, entry = _moved(pos, entry, filled, adj)
                                book(i, filled, adj, paid, BUY, False)
                    elif order < 0:
                        adj = price * (1 - slip)
                        filled = -order
                        if not (filled <= ABS_TOL or is_less(filled, MIN_SIZE)):
                            acquired = filled * adj
                            paid = acquired * fee + 0.0
                            net = add(acquired, -paid)
                            if net >= 0:
                                cash = cash + net
                                pos, entry = _moved(pos, entry, -filled, adj)
                                book(i, filled, adj, paid, SELL, False)
        # (2) liquidation on the bar's adverse extreme
        if pos != 0:
            collateral = cash + pos * entry
            liq = liquidation_price(pos, entry, collateral, mmr, tiers)
            if liq is not None and ((pos > 0 and low[i] <= liq) or (pos < 0 and high[i] >= liq)):
                size = abs(pos)
                paid = size * liq * fee
                side = SELL if pos > 0 else BUY
                cash = cash + pos * liq - paid
                liquidations.append(
                    {
                        "bar": i,
                        "side": "long" if pos > 0 else "short",
                        "size": size,
                        "entry_price": entry,
                        "collateral": collateral,
                        "price": liq,
                        "fees": paid,
                    }
                )
                book(i, size, liq, paid, side, True)
                pos, entry = 0.0, 0.0
        # (3) funding times inside this bar
        while ev < len(events) and events[ev][0] == i:
            _, ts, rate, m = events[ev]
            mark_price = close[i] if math.isnan(m) else m
            ev += 1
            if pos == 0:
                continue  # nothing held: nothing booked
            # in Decimal (floats by their repr): the amount the ledger books, to the cent
            amount = float(
                funding_payment(to_decimal(pos), to_decimal(mark_price), to_decimal(rate))
            )
            cash = cash + amount
            for key, value in zip(fund, (i, ts, pos, mark_price, rate, amount), strict=True):
                fund[key].append(value)
        # (4) the close
        equity[i] = cash + close[i] * pos if pos != 0 else cash
        if pos != 0 and equity[i] > 0:
            margin[i] = abs(pos) * close[i] * imr_used / equity[i]
        elif pos != 0:
            margin[i] = math.inf
        cash_out[i], pos_out[i] = cash, pos
    return PerpSimulation(
        equity=equity,
        fills={k: np.asarray(v) for k, v in f.items()},
        funding={k: np.asarray(v) for k, v in fund.items()},
        margin=margin,
        cash=cash_out,
        position=pos_out,
        liquidations=liquidations,
    )


def _trades(sim: PerpSimulation, index: pd.Index, last_close: float) -> pd.DataFrame:
    fills = sim.fills
    m = len(fills["bar"])
    n = len(index)
    cols = ("size", "entry_bar", "entry_price", "exit_bar", "exit_price", "fees", "pnl",
            "return", "direction", "status")  # fmt: skip
    out: dict[str, list] = {k: [0] * (m + 1) for k in cols}
    t = exit_trades(
        fills["bar"].tolist(), fills["size"].tolist(), fills["price"].tolist(),
        fills["fees"].tolist(), fills["side"].tolist(), m, n - 1, last_close, *out.values(),
    )  # fmt: skip
    simulation = Simulation(
        equity=sim.equity, fills={}, trades={k: np.asarray(v[:t]) for k, v in out.items()}
    )
    frame = trades_frame(simulation, index)
    flagged = fills["liquidation"].astype(bool)
    liq = set(zip(fills["bar"][flagged].tolist(), fills["price"][flagged].tolist(), strict=True))
    tr = simulation.trades
    reasons = [
        "liquidation"
        if status == 1 and (bar, price) in liq
        else ("open" if not status else "signal")
        for bar, price, status in zip(
            tr["exit_bar"].tolist(), tr["exit_price"].tolist(), tr["status"].tolist(), strict=True
        )
    ]
    frame["exit_reason"] = pd.Series(reasons, dtype=object)
    return frame.reindex(columns=PERP_TRADE_COLUMNS)


@dataclass
class PerpResult:
    """A perpetual backtest: trades (with `exit_reason`: signal, liquidation, open), equity,
    funding per funding time (what the account paid, < 0, or received, > 0), margin usage per
    bar (initial margin at the chosen leverage / equity) and the liquidations."""

    strategy: Any
    bars: pd.DataFrame
    costs: Costs
    init_cash: float
    spec: Perpetual
    leverage: float
    targets: pd.Series
    simulation: PerpSimulation = field(repr=False)
    funding_rates: pd.Series | None = field(default=None, repr=False)
    # what the trial registry did with this backtest (None: not registered)
    registration: Any = field(default=None, repr=False)

    @property
    def policy(self) -> None:
        """The order policy: a perpetual backtest trades market orders at the next open (the
        trial registry reads this where order types are recorded)."""
        return None

    @property
    def trial_terms(self) -> dict[str, Any]:
        """What joins the trial's cost key: the perpetual's terms and its funding data (a
        different leverage or funding history is a different trial)."""
        return perp_terms(self.spec, self.leverage, self.funding_rates)

    @cached_property
    def trades(self) -> pd.DataFrame:
        last = float(self.bars["close"].iloc[-1]) if len(self.bars) else math.nan
        return _trades(self.simulation, self.bars.index, last)

    @cached_property
    def equity(self) -> pd.Series:
        return pd.Series(self.simulation.equity, index=self.bars.index, name="equity")

    @property
    def returns(self) -> pd.Series:
        return self.equity.pct_change().fillna(0.0).rename("returns")

    @cached_property
    def funding(self) -> pd.Series:
        """Funding booked at each funding time inside the bars (quote currency, + received)."""
        fund = self.simulation.funding
        index = pd.to_datetime(fund["ts"].astype(np.int64), unit="ns", utc=True)
        return pd.Series(fund["amount"].astype(float), index=index, name="funding")

    @cached_property
    def funding_events(self) -> pd.DataFrame:
        fund = self.simulation.funding
        index = pd.to_datetime(fund["ts"].astype(np.int64), unit="ns", utc=True)
        return pd.DataFrame(
            {k: fund[k].astype(float) for k in ("position", "mark", "rate", "amount")},
            index=pd.DatetimeIndex(index, name="ts"),
        )

    @cached_property
    def margin(self) -> pd.Series:
        return pd.Series(self.simulation.margin, index=self.bars.index, name="margin_usage")

    @cached_property
    def liquidations(self) -> pd.DataFrame:
        rows = self.simulation.liquidations
        frame = pd.DataFrame(
            rows,
            columns=["bar", "side", "size", "entry_price", "collateral", "price", "fees"],
        )
        frame.insert(0, "time", pd.to_datetime(self.bars.index.take(frame["bar"]), utc=True))
        return frame.drop(columns="bar")

    @property
    def funding_paid(self) -> float:
        return float(-self.funding[self.funding < 0].sum())

    @property
    def funding_received(self) -> float:
        return float(self.funding[self.funding > 0].sum())

    @cached_property
    def stats(self) -> pd.Series:
        from nzeza.research.metrics import performance

        base = performance(
            self.equity, self.trades[TRADE_COLUMNS], self.targets, freq_of(self.bars.index)
        )
        extra = pd.Series(
            {
                "leverage": self.leverage,
                "funding_paid": self.funding_paid,
                "funding_received": self.funding_received,
                "liquidations": len(self.simulation.liquidations),
                "max_margin_usage": float(self.margin.max()) if len(self.margin) else 0.0,
            }
        )
        return pd.concat([base, extra])

    def plot(self, title: str | None = None) -> Any:
        from nzeza.research.plots import perp_figure

        return perp_figure(self, title)


def backtest_perp(
    strategy: Any,
    bars: pd.DataFrame,
    spec: Perpetual,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    *,
    leverage: Any = 1,
    funding: pd.Series | pd.DataFrame | None = None,
    mark: pd.Series | None = None,
    ledger: Any = None,
    register: bool = True,
) -> PerpResult:
    """Backtest `strategy` on `bars` as a perpetual `spec` (module docstring for the rule).

    `leverage` in (0, spec.max_leverage] scales the strategy's targets; `funding` is a
    `funding_rate` series (UTC funding times) or a frame with `ts`/`funding_rate`; `mark` an
    optional mark price series for funding (else the bar's close). Registered as a trial in
    `ledger` (default: the configured one) like every backtest, its perpetual terms and funding
    data part of its key; `register=False` opts out with a warning."""
    from nzeza.data.checks import check_bars
    from nzeza.research.orders import policy_of
    from nzeza.research.trials import record_backtest

    kind = policy_of(strategy).kind
    if kind != "market":
        raise ValidationError(
            "orders", kind, "a perpetual backtest fills market orders only (docs/perpetuals.md)"
        )
    check_bars(bars)
    if not isinstance(spec, Perpetual):
        raise ValidationError("spec", type(spec).__name__, "must be a Perpetual")
    lev = float(spec.check_leverage(leverage))
    rates = None if funding is None else funding_series(funding)
    if mark is None and rates is not None:
        mark = rates.attrs.get("mark")  # a funding file's own marks (NaN: the bar's close)
    costs = costs or Costs()
    targets = strategy.targets(bars) if hasattr(strategy, "targets") else strategy.target(bars)
    values = np.asarray(targets, dtype=np.float64)
    if values.shape != (len(bars),):
        raise ValidationError("target", values.shape, f"must be one value per bar ({len(bars)})")
    open_ = bars["open"].to_numpy(dtype=np.float64)
    check_inputs(values, open_, bars.index, init_cash)
    values = np.clip(values, -1.0, 1.0)
    sim = simulate_perp(values, bars, costs, float(init_cash), spec, lev, rates, mark)
    result = PerpResult(strategy, bars, costs, float(init_cash), spec, lev, targets, sim, rates)
    result.registration = record_backtest(result, ledger=ledger, register=register)
    return result


__all__ = [
    "CACHE_PREFIX",
    "FUNDING_COLUMN",
    "PERP_TRADE_COLUMNS",
    "PerpResult",
    "PerpSetup",
    "PerpSimulation",
    "backtest_perp",
    "funding_at_bars",
    "funding_digest",
    "funding_series",
    "perp_terms",
    "read_funding",
    "simulate_perp",
]
