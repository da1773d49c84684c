"""The strategy explorer, driven headless: its chart is the backtest of what the widgets say.

The Output widget's `outputs` state is what JupyterLab draws and what papermill stores, so the
tests read the figure from there, after changing a control as a user would.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.notebook.widgets import PLOTLY_MIME, figure_data, strategy_explorer
from nzeza.research import backtest
from nzeza.strategies import get_strategy

COSTS = Costs(0.001, 0.0005)


def values(array: object) -> np.ndarray:
    """A plotly JSON array (a list, or base64 typed data) as numbers."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=float)


def trace(data: list[dict], name: str) -> dict:
    return next(t for t in data if t.get("name") == name)


def title(explorer: object) -> str:
    fig = next(o["data"][PLOTLY_MIME] for o in explorer.output.outputs if PLOTLY_MIME in o["data"])
    return fig["layout"]["title"]["text"]


@pytest.fixture(scope="module")
def bars():
    return load_sample("btc_usd_1h").iloc[-24 * 60 :]


def control(explorer: object, name: str) -> object:
    return next(c for c in explorer.params_box.children if c.description == name)


def test_chart_follows_a_parameter_change(bars) -> None:
    explorer = strategy_explorer(bars, COSTS)
    before = figure_data(explorer.output)
    assert before, "the explorer shows no chart"
    control(explorer, "fast").value = 5
    after = figure_data(explorer.output)
    assert not np.array_equal(
        values(trace(before, "equity")["y"]), values(trace(after, "equity")["y"])
    )
    # the chart is exactly the backtest of the new parameters
    direct = backtest(get_strategy("sma_cross")(fast=5, slow=30), bars, COSTS, 10_000)
    np.testing.assert_allclose(values(trace(after, "equity")["y"]), direct.equity.to_numpy())
    closed = direct.trades[direct.trades["status"] == "closed"]
    names = {t["name"] for t in after}
    assert {"long entry", "long exit"} <= names
    exits = values(trace(after, "long exit")["y"])
    np.testing.assert_allclose(
        exits, closed[closed["side"] == "long"]["exit_price"].to_numpy(), rtol=1e-12
    )
    assert f"{bars.attrs['symbol']} 1h" in title(explorer) and "fast=5" in title(explorer)


def test_chart_follows_a_strategy_change(bars) -> None:
    explorer = strategy_explorer(bars, COSTS)
    before = figure_data(explorer.output)
    explorer.choice.value = "bollinger_reversion"
    assert [c.description for c in explorer.params_box.children] == ["window", "k", "short"]
    after = figure_data(explorer.output)
    assert not np.array_equal(
        values(trace(before, "equity")["y"]), values(trace(after, "equity")["y"])
    )
    assert "BollingerReversion" in title(explorer)
    assert {"short entry", "short exit"} <= {t["name"] for t in after}


def test_bad_parameters_show_an_error_not_a_traceback(bars) -> None:
    explorer = strategy_explorer(bars, COSTS)
    control(explorer, "slow").value = 3  # slow below fast: SmaCross refuses it
    shown = [o["data"].get("text/plain", "") for o in explorer.output.outputs]
    assert len(shown) == 1 and shown[0].startswith("error: invalid slow=3")
    assert figure_data(explorer.output) == []
