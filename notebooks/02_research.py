# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Research
#
# One strategy, one sample, one backtest — the fill convention stated once: a target decided at a
# bar's close executes at the next bar's open, buys at open × (1 + slippage), sells at
# open × (1 − slippage), fee on notional. Change the parameters cell (or run it through papermill
# with `-p`) to see another strategy; the explorer below does the same interactively.

# %% tags=["parameters"]
strategy = "sma_cross"
params = {}               # overrides of the strategy's defaults (a dict or a JSON string)
sample = "btc_usd_1h"
last_bars = 24 * 365      # the most recent year
fee = 0.001
fees = None               # a venue's published schedule (`nzeza config fees`), e.g. "dydx": replaces fee
slippage = 0.0005
metrics_path = None

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()           # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %%
from nzeza.data import load_sample
from nzeza.notebook import notebook_costs, record_metrics
from nzeza.research import backtest
from nzeza.strategies import get_strategy

bars = load_sample(sample).iloc[-last_bars:]
strat = get_strategy(strategy)(**params)
costs = notebook_costs(fee, slippage, fees)
result = backtest(strat, bars, costs, 10_000)
strat

# %% [markdown]
# ## Statistics

# %%
result.stats.to_frame("value").round(4)

# %% [markdown]
# ## Equity, trades and drawdown

# %%
result.plot()

# %%
result.trades.tail(8).round(4)

# %% [markdown]
# ## Explore interactively
# In JupyterLab, change the strategy or a parameter and the backtest reruns.

# %%
from nzeza.notebook.widgets import strategy_explorer

explorer = strategy_explorer(bars.iloc[-24 * 90:], costs, default=strategy)
explorer

# %%
record_metrics(metrics_path, {"strategy": strategy, **{f"p_{k}": v for k, v in params.items()},
                              "sharpe": result.stats["sharpe"], "total_return": result.stats["total_return"],
                              "max_drawdown": result.stats["max_drawdown"], "trades": result.stats["trades"]})
