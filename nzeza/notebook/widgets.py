"""ipywidgets front-ends. Each widget calls the library; the same code runs headless.

Results reach an `Output` widget by setting its `outputs` state to complete display bundles
(`display_bundle`), never by capturing `display()` calls: state is what the front end draws in
JupyterLab, what nbclient/papermill store in a notebook, and what a headless test can read,
while capture stalls under nbclient when the callback runs outside a cell. Plotly figures go
in as their JSON mimetype (compact: arrays are base64), so the chart is drawn by JupyterLab's
plotly renderer, inside the widget. (A plotly `FigureWidget` would update in place, but each
one stores its 5 MB JavaScript bundle in the notebook's saved widget state.)
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def display_bundle(obj: Any) -> dict[str, Any]:
    """One `display_data` output for an Output widget's state: a plotly figure as its JSON
    mimetype, a DataFrame as HTML, anything else as text."""
    if hasattr(obj, "to_plotly_json") and hasattr(obj, "to_json"):
        data = {
            PLOTLY_MIME: json.loads(obj.to_json()),
            "text/plain": f"<plotly figure: {obj.layout.title.text or 'untitled'}>",
        }
    elif isinstance(obj, pd.DataFrame):
        data = {"text/html": obj.to_html(max_rows=20, max_cols=16), "text/plain": repr(obj)}
    else:
        data = {"text/plain": str(obj)}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def figure_data(output: Any) -> list[dict[str, Any]]:
    """The plotly traces an Output widget shows (what the front end draws), [] if none."""
    for item in reversed(output.outputs):
        fig = item.get("data", {}).get(PLOTLY_MIME)
        if fig is not None:
            return list(fig.get("data", []))
    return []


def strategy_explorer(
    bars: pd.DataFrame,
    costs: Any = None,
    init_cash: float = 10_000.0,
    default: str = "sma_cross",
    symbol: str | None = None,
) -> Any:
    """Pick a strategy and its parameters; stats and the trade chart (price with entries and
    exits, equity, drawdown) update on every change. The returned VBox carries `choice`,
    `params_box`, `output` and the last `result`."""
    import ipywidgets as w

    from nzeza.domain import Costs
    from nzeza.errors import NzezaError
    from nzeza.research import backtest, backtest_figure
    from nzeza.strategies import REGISTRY

    costs = costs or Costs()
    choice = w.Dropdown(options=sorted(REGISTRY), value=default, description="strategy")
    params_box = w.VBox()
    out = w.Output()
    box = w.VBox([choice, params_box, out])
    box.choice, box.params_box, box.output, box.result = choice, params_box, out, None

    def controls(name: str) -> list[Any]:
        cls = REGISTRY[name]
        widgets = []
        for key, typ in cls._param_types.items():
            value = getattr(cls, key)
            if typ is bool:
                widgets.append(w.Checkbox(value=value, description=key))
            elif typ is int:
                widgets.append(w.IntText(value=value, description=key))
            elif typ is float:
                widgets.append(w.FloatText(value=value, description=key))
        return widgets

    def run(*_: Any) -> None:
        cls = REGISTRY[choice.value]
        params = {c.description: c.value for c in params_box.children}
        try:
            result = backtest(cls(**params), bars, costs, init_cash)
        except NzezaError as exc:  # shown to the user, never a traceback wall
            out.outputs = (display_bundle(f"error: {exc}"),)
            return
        box.result = result
        out.outputs = (
            display_bundle(result.stats.to_frame("value").T.round(3)),
            display_bundle(backtest_figure(result, symbol=symbol)),
        )

    def rebuild(*_: Any) -> None:
        params_box.children = controls(choice.value)
        for c in params_box.children:
            c.observe(run, names="value")
        run()

    choice.observe(rebuild, names="value")
    rebuild()
    return box


__all__ = [
    "PLOTLY_MIME",
    "display_bundle",
    "figure_data",
    "strategy_explorer",
]
