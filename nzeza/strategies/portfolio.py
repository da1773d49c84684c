"""The portfolio strategy contract: a panel of symbols in, target weights per symbol out.

    class TopMomentum(PortfolioStrategy):
        lookback: int = 90

        def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame: ...

A panel is what `nzeza.data.load_sample("bitstamp_1d")` returns: one row per bar (UTC index),
columns a MultiIndex (symbol, field) with fields open, high, low, close, volume; a symbol has
NaN rows before its data starts. `target_weights` maps the panel to the desired weight of each
symbol at each bar (a fraction of the portfolio's equity, negative is short), computed only from
data up to and including that bar. The framework calls the checked `weights(panel)`:

- the frame is aligned to the panel (same index, one column per symbol, in panel order);
- NaN is no position (0), and a symbol has no weight at a bar where it has no close;
- each weight must lie in [−max_weight, max_weight] (else a `ValidationError` naming the first
  bad bar and symbol), and where the gross exposure (sum of |w|) exceeds `max_gross` the bar's
  weights are scaled down to it (proportionally, never refused).

Parameters are declared as for `Strategy` (annotated class attributes, checked, `validate()`),
and the identity (class path + source hash) is computed the same way. A portfolio strategy has
no single-symbol `target`: research runs it with `nzeza.research.portfolio.backtest_portfolio`
(`nzeza backtest NAME --sample bitstamp_1d`), the engine with `nzeza.engine.portfolio_replay`
(`nzeza replay NAME --sample bitstamp_1d`, equal to the backtest order for order) and in paper
sessions over several symbols (`nzeza paper NAME --symbol BTCUSDT,ETHUSDT`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError
from nzeza.strategies.base import Strategy

FIELDS = ("open", "high", "low", "close")
TOLERANCE = 1e-12  # weights within this of a bound are on it (float noise, not a breach)


def panel_symbols(panel: Any, field: str = "panel") -> list[str]:
    """The symbols of a panel, in column order; a `ValidationError` when `panel` is not one."""
    return [str(s) for s in _layout(panel, field)[0]]


def _layout(panel: Any, field: str = "panel") -> tuple[list[Any], dict[tuple[Any, Any], int]]:
    """The panel's symbols as its columns hold them, in order, and each (symbol, field)
    column's position; checked (see `panel_symbols`)."""
    if not isinstance(panel, pd.DataFrame):
        raise ValidationError(field, type(panel).__name__, "must be a DataFrame")
    cols = panel.columns
    if not isinstance(cols, pd.MultiIndex) or cols.nlevels != 2:
        raise ValidationError(
            field,
            f"{cols.nlevels} column level(s)",
            "must have (symbol, field) columns, as nzeza.data.load_sample('bitstamp_1d') "
            "returns them",
        )
    # dict lookups on the (symbol, field) pairs, not MultiIndex.get_loc
    where = {pair: i for i, pair in enumerate(cols)}
    symbols = list(dict.fromkeys(pair[0] for pair in where))
    for sym in symbols:
        missing = [f for f in FIELDS if (sym, f) not in where]
        if missing:
            raise ValidationError(field, str(sym), f"has no {', '.join(missing)} column(s)")
    if not symbols:
        raise ValidationError(field, 0, "holds no symbol")
    return symbols, where


_SYMBOL_INDEXES: dict[tuple[str, ...], pd.Index] = {}


def symbol_index(symbols: list[str]) -> pd.Index:
    """`pd.Index(symbols, name="symbol")`, from a cache (building a string Index costs 20 µs,
    and a session builds two per bar); a shallow copy, so renaming it in place stays local."""
    key = tuple(symbols)
    found = _SYMBOL_INDEXES.get(key)
    if found is None:
        if len(_SYMBOL_INDEXES) >= 256:
            _SYMBOL_INDEXES.clear()
        found = _SYMBOL_INDEXES[key] = pd.Index(symbols, name="symbol")
    return found.copy()


def panel_field(panel: pd.DataFrame, name: str) -> pd.DataFrame:
    """One field of every symbol (columns = symbols, in panel order), e.g. the closes."""
    keys, where = _layout(panel)
    missing = [str(key) for key in keys if (key, name) not in where]
    if missing:
        raise ValidationError("panel", missing[0], f"has no {name} column")
    # the wanted columns of the panel's 2-D array (a frame per symbol and a dict cost 30×
    # more); a panel with non-numeric columns elsewhere converts only the wanted ones
    positions = [where[(key, name)] for key in keys]
    try:
        values = panel.to_numpy(dtype=np.float64, na_value=np.nan)[:, positions]
    except (TypeError, ValueError):
        values = panel.iloc[:, positions].to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(
        values, index=panel.index, columns=symbol_index([str(k) for k in keys]), copy=False
    )


class PortfolioStrategy(Strategy):
    """Base class of strategies that trade a panel of symbols with target weights."""

    # the gross exposure (sum of |weights|) a bar may reach; weights beyond are scaled down
    max_gross: float = 1.0
    # the bound L of every single weight: each weight lies in [-L, L]
    max_weight: float = 1.0

    def validate(self) -> None:
        self.require(0 < self.max_gross <= 10, "max_gross", "must be in (0, 10]")
        self.require(0 < self.max_weight <= 10, "max_weight", "must be in (0, 10]")

    # -- for subclasses ---------------------------------------------------------------------
    def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Desired weight per bar (rows) and symbol (columns), from data up to each bar."""
        raise NotImplementedError

    def target(self, bars: pd.DataFrame) -> pd.Series:
        raise ValidationError(
            "strategy",
            self.name,
            "is a portfolio strategy: it trades a panel of symbols (nzeza backtest|replay "
            f"{self.name} --sample bitstamp_1d, nzeza paper {self.name} --symbol "
            "BTCUSDT,ETHUSDT); single-symbol backtests, sweeps and sessions do not run it",
        )

    # -- the checked call the framework uses ------------------------------------------------
    def weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        """`target_weights(panel)` checked: aligned, finite, within ±max_weight, gross scaled
        down to max_gross, 0 where a symbol has no close (see the module docstring)."""
        symbols = panel_symbols(panel)
        out = self.target_weights(panel)
        if not isinstance(out, pd.DataFrame) or not out.index.equals(panel.index):
            raise ValidationError(
                "weights",
                type(out).__name__,
                f"{type(self).__name__}.target_weights must return a DataFrame on panel.index",
            )
        extra = [c for c in out.columns if str(c) not in symbols]
        if extra:
            raise ValidationError("weights", str(extra[0]), "is not a symbol of the panel")
        if list(out.columns) != symbols:  # already the symbols in panel order: nothing to align
            out = out.rename(columns=str).reindex(columns=symbols)
        values = out.to_numpy(dtype=np.float64, na_value=np.nan).copy()
        values[np.isnan(values)] = 0.0
        close = panel_field(panel, "close").to_numpy()
        values[np.isnan(close)] = 0.0  # no price, no position
        bound = self.max_weight
        bad = np.argwhere(~(np.abs(values) <= bound + TOLERANCE))
        if len(bad):
            i, j = bad[0]
            raise ValidationError(
                "weights",
                float(values[i, j]),
                f"must be within [-{bound:g}, {bound:g}] (max_weight; first at "
                f"{panel.index[i]}, {symbols[j]})",
            )
        values = np.clip(values, -bound, bound)
        gross = np.abs(values).sum(axis=1)
        over = gross > self.max_gross
        values[over] *= (self.max_gross / gross[over])[:, None]
        result = pd.DataFrame(values, index=panel.index, columns=symbol_index(symbols), copy=False)
        return result


class CrossSectionalMomentum(PortfolioStrategy):
    """Long the `top` symbols with the highest trailing `lookback`-bar return (close to close,
    including the current bar), equal weight max_gross / top each, chosen every `rebalance`
    bars and held in between. With `absolute`, a symbol needs a positive trailing return to be
    held (else its share stays in cash). Symbols without `lookback` bars of history are not
    ranked. Rebalance bars are fixed on the calendar (bar number since the epoch, modulo
    `rebalance`), so the weights of a bar never depend on where the panel starts."""

    description = "cross-sectional momentum over a panel: long the top-k, equal weight (portfolio)"
    search_space: ClassVar[dict[str, list[Any]]] = {
        "lookback": [30, 90, 180],
        "top": [1, 2],
        "rebalance": [7, 30],
    }

    lookback: int = 90
    top: int = 1
    rebalance: int = 30
    absolute: bool = True

    def validate(self) -> None:
        super().validate()
        self.require(1 <= self.lookback <= 100_000, "lookback", "must be in [1, 100000]")
        self.require(1 <= self.top <= 1_000, "top", "must be in [1, 1000]")
        self.require(1 <= self.rebalance <= 100_000, "rebalance", "must be in [1, 100000]")

    @property
    def warmup(self) -> int:
        return self.lookback + self.rebalance + 1

    def target_weights(self, panel: pd.DataFrame) -> pd.DataFrame:
        close = panel_field(panel, "close")
        values = close.to_numpy()
        n, k = values.shape
        past = np.full_like(values, np.nan)
        if n > self.lookback:
            past[self.lookback :] = values[: -self.lookback]
        with np.errstate(divide="ignore", invalid="ignore"):
            momentum = values / past - 1.0
        ranked = np.where(np.isnan(momentum), -np.inf, momentum)
        if self.absolute:
            ranked = np.where(ranked > 0, ranked, -np.inf)
        # the top symbols of each bar: highest momentum first, ties by column order
        order = np.argsort(-ranked, axis=1, kind="stable")[:, : self.top]
        chosen = np.zeros((n, k), dtype=bool)
        rows = np.arange(n)[:, None]
        chosen[rows, order] = np.isfinite(ranked[rows, order])
        share = min(self.max_weight, self.max_gross / self.top)
        weights = np.where(chosen, share, 0.0)
        # decide on rebalance bars only; hold the last decision in between (none before: 0)
        stamps = panel.index.asi8
        step = int(np.diff(stamps).min()) if n > 1 else 1
        due = (stamps // max(step, 1)) % self.rebalance == 0
        # each bar holds the weights of the last due bar at or before it (ffill), 0 before any
        last = np.maximum.accumulate(np.where(due, np.arange(n), -1)) if n else np.zeros(0, int)
        held = np.where((last >= 0)[:, None], weights[np.maximum(last, 0)], 0.0)
        return pd.DataFrame(held, index=panel.index, columns=close.columns, copy=False)


__all__ = [
    "FIELDS",
    "CrossSectionalMomentum",
    "PortfolioStrategy",
    "panel_field",
    "panel_symbols",
]
