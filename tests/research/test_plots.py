"""Trade charts: every trade's entry and exit on the price, and the bars named in the title."""

from __future__ import annotations

import base64

import numpy as np

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.research import backtest, backtest_figure
from nzeza.strategies import get_strategy


def ys(trace: object) -> np.ndarray:
    y = trace.y
    if isinstance(y, dict):  # base64 typed array
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"]))
    return np.asarray(y, dtype=float)


def test_entries_and_exits_of_both_sides_and_the_symbol_in_the_title() -> None:
    bars = load_sample("btc_usd_1h").iloc[-24 * 60 :]
    result = backtest(get_strategy("bollinger_reversion")(), bars, Costs(0.001, 0.0005))
    trades = result.trades
    assert {"long", "short"} <= set(trades["side"])
    fig = backtest_figure(result)
    by_name = {t.name: t for t in fig.data}
    for side in ("long", "short"):
        mine = trades[trades["side"] == side]
        closed = mine[mine["status"] == "closed"]
        np.testing.assert_allclose(ys(by_name[f"{side} entry"]), mine["entry_price"])
        np.testing.assert_allclose(ys(by_name[f"{side} exit"]), closed["exit_price"])
    title = fig.layout.title.text
    assert title.startswith(f"{bars.attrs['symbol']} 1h · BollingerReversion(")
    assert backtest_figure(result, symbol="ETH/USD").layout.title.text.startswith("ETH/USD 1h")


def test_bars_without_a_name_say_so() -> None:
    bars = load_sample("btc_usd_1h").iloc[-500:].copy()
    bars.attrs = {}
    result = backtest(get_strategy("sma_cross")(), bars, Costs())
    assert backtest_figure(result).layout.title.text.startswith("unnamed bars · SmaCross(")


def test_long_lines_are_thinned_for_the_screen_keeping_peaks_and_ends() -> None:
    """A chart of 33,259 bars stores about 2,500 points per line (02_research stored 1 MB of
    plotly JSON before), and the thinned line keeps each bucket's extremes: the global
    maximum, minimum, first and last points are all still there."""
    from nzeza.research.plots import MAX_POINTS, thin

    close = load_sample("btc_usd_1h")["close"]
    shown = thin(close)
    assert len(shown) <= MAX_POINTS + 2 < len(close)
    assert shown.index.is_monotonic_increasing and shown.index.isin(close.index).all()
    for pick in (close.idxmax(), close.idxmin(), close.index[0], close.index[-1]):
        assert pick in shown.index and shown[pick] == close[pick]
    short = close.iloc[:100]
    assert thin(short) is short
    result = backtest(get_strategy("sma_cross")(), load_sample("btc_usd_1h"), Costs())
    lines = [t for t in backtest_figure(result).data if t.mode != "markers"]
    assert all(len(t.x) <= MAX_POINTS + 2 for t in lines)
