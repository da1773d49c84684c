"""ipywidgets front-ends. Each widget calls the library; the same code runs headless."""

from __future__ import annotations

from typing import Any

import pandas as pd


def strategy_explorer(
    bars: pd.DataFrame, costs: Any = None, init_cash: float = 10_000.0, default: str = "sma_cross"
) -> Any:
    """Pick a strategy and its parameters; equity, drawdown, stats and trades update."""
    import ipywidgets as w

    from nzeza.domain import Costs
    from nzeza.errors import NzezaError
    from nzeza.research import backtest
    from nzeza.strategies import REGISTRY

    costs = costs or Costs()
    choice = w.Dropdown(options=sorted(REGISTRY), value=default, description="strategy")
    params_box = w.VBox()
    out = w.Output()

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
        # widget state only (no output capture): works the same in JupyterLab and headless
        # under papermill/nbclient, where capturing into an Output widget can stall the cell
        out.outputs = ()
        try:
            result = backtest(cls(**params), bars, costs, init_cash)
        except NzezaError as exc:  # shown to the user, never a traceback wall
            out.append_stdout(f"error: {exc}\n")
            return
        out.append_display_data(result.stats.to_frame("value").T.round(3))
        out.append_display_data(result.plot())

    def rebuild(*_: Any) -> None:
        params_box.children = controls(choice.value)
        for c in params_box.children:
            c.observe(run, names="value")
        run()

    choice.observe(rebuild, names="value")
    rebuild()
    return w.VBox([choice, params_box, out])
