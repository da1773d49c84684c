"""ipywidgets front-ends. Each widget calls the library; the same code runs headless."""

from __future__ import annotations

from typing import Any

import pandas as pd


def strategy_explorer(
    bars: pd.DataFrame, costs: Any = None, init_cash: float = 10_000.0, default: str = "sma_cross"
) -> Any:
    """Pick a strategy and its parameters; equity, drawdown, stats and trades update."""
    import ipywidgets as w
    from IPython.display import display

    from nzeza.domain import Costs
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
        out.clear_output(wait=True)
        with out:
            try:
                result = backtest(cls(**params), bars, costs, init_cash)
            except Exception as exc:  # shown to the user, never a traceback wall
                print(f"error: {exc}")
                return
            display(result.stats.to_frame("value").T.round(3))
            display(result.plot())

    def rebuild(*_: Any) -> None:
        params_box.children = controls(choice.value)
        for c in params_box.children:
            c.observe(run, names="value")
        run()

    choice.observe(rebuild, names="value")
    rebuild()
    return w.VBox([choice, params_box, out])
