"""Portfolio backtests: a panel of symbols, target weights, one shared cash account.

The fill rule is the single-symbol one (`nzeza.research.backtest`), applied to every symbol of
a group that shares its cash (vectorbt `Portfolio.from_orders` with `cash_sharing=True`,
`group_by=True`, `size_type="targetpercent"`, `call_seq="auto"`):

- weights decided at bar t's close execute at bar t+1's open, for every symbol whose weight
  changed (a symbol whose weight did not change gets no order: its position drifts);
- at that open the portfolio is valued once: value = cash + Σ position × open (un-slipped; a
  symbol's last known open when it has none); each order moves its symbol's position to
  weight × value / open;
- within a bar, orders run by their approximate value (weight × value − position × open),
  lowest first: sells before buys, so what sells release pays for the buys;
- buys fill at open × (1 + slippage), sells at open × (1 − slippage), fee × notional at the
  fill price; a buy that the (shared) cash cannot pay shrinks to cash / (fill price × (1 + fee));
  sells (and shorts) are not cash-limited; orders below 1e-8 units are rejected;
- equity at a bar = cash + Σ position × close.

Bars are checked per symbol like single-symbol bars (`nzeza.data.checks.check_bars`) on the
rows where the symbol has data: a symbol may start later than the panel (NaN rows before its
first bar, where its weight is 0) but may not have holes or stop early.

vectorbt runs on a tz-naive copy of the index (a tz-aware one costs a `Timestamp` object per
bar at every wrap); the results carry the panel's UTC index. Every portfolio backtest is a
trial in the trial registry, grouped by the strategy's class path and the panel's fingerprint
(all symbols' OHLC), like single backtests (`nzeza.research.trials`).

`sweep_portfolio` backtests every combination of a parameter grid (one `backtest_portfolio`
each: the table's rows equal the single backtests) and registers every one as a trial of that
group, as `sweep` does for single-symbol strategies; `walk_forward` and `verdict` take portfolio
strategies on panels through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from nzeza.data.timeframe import freq_of
from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.research.backtest import TRADE_COLUMNS, check_inputs, order_sizes
from nzeza.strategies.portfolio import FIELDS, panel_field, panel_symbols

ORDER_COLUMNS = ["time", "symbol", "side", "size", "price", "fees"]


def check_panel(panel: pd.DataFrame) -> list[str]:
    """The panel's symbols, once every symbol's bars pass `check_bars` from its first bar to
    the panel's last (a `ValidationError` naming the symbol otherwise)."""
    from nzeza.data.checks import check_bars

    symbols = panel_symbols(panel)
    if len(panel) == 0:
        raise ValidationError("panel", 0, "no bars (an empty panel)")
    for sym in symbols:
        bars = panel[sym][list(FIELDS)]
        present = bars.notna().any(axis=1).to_numpy()
        if not present.any():
            raise ValidationError("panel", sym, "has no bars")
        first = int(np.argmax(present))
        try:
            check_bars(bars.iloc[first:], field=f"panel[{sym}]")
        except ValidationError as exc:
            raise ValidationError(
                exc.field,
                exc.value,
                f"{exc.reason} (a symbol may start later than the panel, but not have holes "
                "or end early)",
            ) from None
    return symbols


@dataclass
class PortfolioResult:
    """One portfolio backtest: the weights, the vectorbt Portfolio and what it computed."""

    strategy: Any
    bars: pd.DataFrame  # the panel (named `bars` as in BacktestResult: the trial registry's)
    costs: Costs
    init_cash: float
    weights: pd.DataFrame
    portfolio: Any = field(repr=False)  # vectorbt Portfolio on a tz-naive index
    registration: Any = field(default=None, repr=False)

    @property
    def symbols(self) -> list[str]:
        return list(self.weights.columns)

    def _utc(self, obj: Any) -> Any:
        out = obj.copy()
        out.index = self.bars.index
        return out

    @cached_property
    def equity(self) -> pd.Series:
        """The portfolio's value per bar: shared cash + Σ position × close."""
        return pd.Series(
            self.portfolio.value().to_numpy(dtype=np.float64),
            index=self.bars.index,
            name="equity",
        )

    @property
    def returns(self) -> pd.Series:
        return self.equity.pct_change().fillna(0.0).rename("returns")

    @cached_property
    def positions(self) -> pd.DataFrame:
        """Units held per symbol at each bar's close."""
        out = self._utc(self.portfolio.assets())
        out.columns = pd.Index(self.symbols, name="symbol")
        return out

    @cached_property
    def exposure(self) -> pd.DataFrame:
        """Position value / portfolio equity per symbol at each bar's close."""
        close = panel_field(self.bars, "close").ffill().bfill()
        value = self.positions * close
        return value.div(self.equity, axis=0).where(self.positions != 0, 0.0)

    @cached_property
    def orders(self) -> pd.DataFrame:
        """Every filled order: time, symbol, side (buy/sell), size (units > 0), fill price,
        fees; in execution order."""
        rec = self.portfolio.orders.values
        rec = rec[np.lexsort((rec["id"], rec["idx"]))]
        return pd.DataFrame(
            {
                "time": self.bars.index.take(rec["idx"]),
                "symbol": pd.Series(np.asarray(self.symbols, dtype=object)[rec["col"]]),
                "side": pd.Series(np.where(rec["side"] == 0, "buy", "sell"), dtype=object),
                "size": rec["size"].astype(float),
                "price": rec["price"].astype(float),
                "fees": rec["fees"].astype(float),
            },
            columns=ORDER_COLUMNS,
        )

    @cached_property
    def trades(self) -> pd.DataFrame:
        """Exit trades per symbol: the single-symbol trade columns plus `symbol`; closed
        trades first within a symbol, then its open one (marked at the last close)."""
        rec = self.portfolio.trades.values
        columns = ["symbol", *TRADE_COLUMNS]
        if not len(rec):
            return pd.DataFrame(columns=columns)
        rec = rec[np.lexsort((rec["id"], rec["col"]))]
        index = self.bars.index
        return pd.DataFrame(
            {
                "symbol": pd.Series(np.asarray(self.symbols, dtype=object)[rec["col"]]),
                "entry_time": index.take(rec["entry_idx"]),
                "exit_time": index.take(rec["exit_idx"]),
                "side": pd.Series(np.where(rec["direction"] == 0, "long", "short"), dtype=object),
                "entry_price": rec["entry_price"].astype(float),
                "exit_price": rec["exit_price"].astype(float),
                "size": rec["size"].astype(float),
                "pnl": rec["pnl"].astype(float),
                "fees": (rec["entry_fees"] + rec["exit_fees"]).astype(float),
                "return": rec["return"].astype(float),
                "status": pd.Series(np.where(rec["status"] == 1, "closed", "open"), dtype=object),
            },
            columns=columns,
        )

    @cached_property
    def gross(self) -> pd.Series:
        """The target gross exposure per bar (Σ |weight|)."""
        return self.weights.abs().sum(axis=1).rename("gross")

    @cached_property
    def stats(self) -> pd.Series:
        """The single backtest's statistics on the portfolio equity (exposure: share of bars
        with any target weight)."""
        from nzeza.research.metrics import performance

        return performance(self.equity, self.trades, self.gross, freq_of(self.bars.index))

    def per_symbol(self) -> pd.DataFrame:
        """Per symbol: closed and open trades, realised and open pnl, fees, last exposure."""
        rows = []
        trades = self.trades
        for sym in self.symbols:
            t = trades[trades["symbol"] == sym]
            closed = t[t["status"] == "closed"]
            rows.append(
                {
                    "symbol": sym,
                    "trades": len(closed),
                    "open": int((t["status"] == "open").sum()),
                    "pnl": float(closed["pnl"].sum()),
                    "open_pnl": float(t.loc[t["status"] == "open", "pnl"].sum()),
                    "fees": float(t["fees"].sum()),
                    "exposure": float(self.exposure[sym].iloc[-1]),
                }
            )
        return pd.DataFrame(rows).set_index("symbol")

    def plot(self, title: str | None = None) -> Any:
        from nzeza.research.plots import portfolio_figure

        return portfolio_figure(self, title)


def run_vectorbt(panel: pd.DataFrame, weights: pd.DataFrame, costs: Costs, init_cash: float) -> Any:
    """The vectorbt Portfolio of `weights` on `panel` (see the module docstring), tz-naive."""
    import vectorbt as vbt

    symbols = list(weights.columns)
    open_ = panel_field(panel, "open")
    close = panel_field(panel, "close")
    sizes = order_sizes(weights)
    assert isinstance(sizes, pd.DataFrame)
    sizes = sizes.where(open_.notna())  # no order where a symbol has no price yet
    naive = pd.DatetimeIndex(panel.index).tz_localize(None)
    frames = [f.set_axis(naive, axis=0).set_axis(symbols, axis=1) for f in (close, sizes, open_)]
    close_n, sizes_n, open_n = frames
    return vbt.Portfolio.from_orders(
        close_n,
        size=sizes_n,
        size_type="targetpercent",
        price=open_n,
        fees=costs.fee,
        slippage=costs.slippage,
        init_cash=float(init_cash),
        cash_sharing=True,
        group_by=True,
        call_seq="auto",
        freq=freq_of(panel.index),
    )


def backtest_portfolio(
    strategy: Any,
    panel: pd.DataFrame,
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    *,
    ledger: Any = None,
    register: bool = True,
) -> PortfolioResult:
    """Backtest a `PortfolioStrategy` on a panel with one shared cash account (see the module
    docstring). Registered as a trial in `ledger` (default: the configured ledger);
    `register=False` opts out, with a warning."""
    from nzeza.research.trials import record_backtest

    if not hasattr(strategy, "weights"):
        raise ValidationError(
            "strategy",
            getattr(strategy, "name", type(strategy).__name__),
            "is not a portfolio strategy (no weights(panel)): backtest it on one symbol (--symbol)",
        )
    costs = costs or Costs()
    check_panel(panel)
    if len(panel) < 2:
        raise ValidationError("panel", len(panel), "needs at least 2 bars")
    weights = strategy.weights(panel)
    flat = weights.to_numpy(dtype=np.float64).ravel()
    check_inputs(flat, panel_field(panel, "open").to_numpy().ravel(), _cells(panel), init_cash)
    pf = run_vectorbt(panel, weights, costs, init_cash)
    result = PortfolioResult(strategy, panel, costs, float(init_cash), weights, pf)
    result.registration = record_backtest(result, ledger=ledger, register=register)
    return result


def panel_window(panel: pd.DataFrame, start: int, stop: int) -> pd.DataFrame:
    """Rows `start:stop` of a panel without the symbols that have no bar in them (a symbol
    that starts later than a walk-forward window is not part of that window's panel)."""
    part = panel.iloc[start:stop]
    keep = [s for s in panel_symbols(part) if part[(s, "close")].notna().any()]
    if not keep:
        raise ValidationError("panel", f"rows {start}:{stop}", "no symbol has a bar in them")
    if len(keep) == len(panel_symbols(part)):
        return part
    return part.loc[:, part.columns.get_level_values(0).isin(keep)]


def sweep_portfolio(
    strategy_cls: type,
    panel: pd.DataFrame,
    grid: Mapping[str, Sequence[Any]],
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    constraint: Callable[[dict[str, Any]], bool] | None = None,
    progress: bool = True,
    *,
    ledger: Any = None,
    register: bool = True,
) -> pd.DataFrame:
    """Backtest every valid combination of `grid` for a `PortfolioStrategy` class on `panel`
    (shared cash, the rule of `backtest_portfolio`; tqdm progress on stderr).

    Returns params + the sweep statistics (`SWEEP_STATS`, trades, exposure) per combination,
    sorted by Sharpe (stable: ties keep grid order); `attrs` as `sweep`'s (`n_trials`,
    `rejected`, `strategy`, `registration`, `registered`). Every combination is registered as a
    trial of the group (strategy family, panel fingerprint, timeframe) in `ledger` (default:
    the configured ledger), in one transaction; `register=False` opts out, with a warning."""
    from tqdm.auto import tqdm

    from nzeza import stats
    from nzeza.research.metrics import SWEEP_STATS
    from nzeza.research.sweep import ranked_table, valid_combos
    from nzeza.research.trials import _sub_evaluation, per_bar_returns, recording
    from nzeza.strategies import is_portfolio

    if not isinstance(strategy_cls, type) or not is_portfolio(strategy_cls):
        raise ValidationError(
            "strategy_cls",
            getattr(strategy_cls, "__name__", type(strategy_cls).__name__),
            "is not a PortfolioStrategy class: sweep single-symbol strategies with sweep()",
        )
    costs = costs or Costs()
    combos, rejected = valid_combos(strategy_cls, grid, constraint)
    check_panel(panel)
    if len(panel) < 2:
        raise ValidationError("panel", len(panel), "a sweep needs at least 2 bars")
    columns = [*SWEEP_STATS, "trades", "exposure"]
    rows: list[list[float]] = []
    returns = np.zeros((len(panel), len(combos)), dtype=np.float32)
    sharpes, n_obs, strategies = [], [], []
    rec_args = dict(ledger=ledger, register=register, what="sweep")
    with recording(strategy_cls, panel, costs, init_cash, **rec_args) as recorder:
        bar = tqdm(combos, desc=f"sweep {strategy_cls.__name__}", disable=not progress)
        for j, params in enumerate(bar):
            strategy = strategy_cls(**params)
            with _sub_evaluation():  # registered below, once, as this sweep's trial
                result = backtest_portfolio(strategy, panel, costs, init_cash)
            st = result.stats
            rows.append([float(st[c]) for c in columns])
            equity = result.equity.to_numpy(dtype=np.float64)
            sample = equity[1:] / equity[:-1] - 1.0  # as record_backtest measures a backtest
            sharpes.append(stats.sharpe_ratio(sample))
            n_obs.append(len(sample))
            returns[:, j] = per_bar_returns(equity)
            strategies.append(strategy)
        if recorder.active:
            recorder.add(strategies, returns, sharpes, n_obs)
    table = pd.DataFrame(rows, columns=columns)
    for c in ("n_obs", "trades"):
        table[c] = table[c].astype(np.int64)
    return ranked_table(combos, table, rejected, strategy_cls, recorder)[0]


def _cells(panel: pd.DataFrame) -> pd.Index:
    """The bar time of each cell of a (bars × symbols) array raveled row by row."""
    k = len(panel_symbols(panel))
    return panel.index.repeat(k)


__all__ = [
    "ORDER_COLUMNS",
    "PortfolioResult",
    "backtest_portfolio",
    "check_panel",
    "panel_window",
    "run_vectorbt",
    "sweep_portfolio",
]
