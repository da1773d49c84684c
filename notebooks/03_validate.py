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
# # 03 · Validate
#
# Is the edge real? Every backtest here is a trial in the ledger's trial registry, grouped by
# strategy family, data set and timeframe. A sweep registers its combinations, walk-forward judges
# only out-of-sample results, the lookahead check proves the strategy cannot see the future, and the
# verdict deflates the Sharpe ratio by **every** distinct trial of the group — including earlier
# sweeps on these bars, so a grid of one cannot shrink the count — and requires a low probability of
# backtest overfitting (PBO by CSCV) and a positive tail of the combinatorial purged cross-validation
# (CPCV) paths. The verdict is recorded in the ledger: the promotion gate reads it there, never from a
# file.

# %% tags=["parameters"]
strategy = "sma_cross"
grid = None               # None: the strategy's own search_space
sample = "btc_usd_1h"
last_bars = 24 * 365 * 2
train = 24 * 120
test = 24 * 60
fee = 0.001
fees = None               # a venue's published schedule (`nzeza config fees`), e.g. "dydx": replaces fee
slippage = 0.0005
ledger_url = None         # None: the configured ledger (NZEZA_LEDGER_URL, else runs/ledger.sqlite)
metrics_path = None

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()           # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %%
from nzeza.data import load_sample
from nzeza.notebook import notebook_costs, record_metrics
from nzeza.research import check_lookahead, heatmap, sweep, walk_forward
from nzeza.research.trials import describe
from nzeza.store import open_ledger
from nzeza.strategies import get_strategy

cls = get_strategy(strategy)
grid = grid or cls.search_space
bars = load_sample(sample).iloc[-last_bars:]
costs = notebook_costs(fee, slippage, fees)
ledger = open_ledger(ledger_url)  # the trial registry and the verdicts live here
print(f"{cls.__name__}: sweeping {grid}")
table = sweep(cls, bars, grid, costs, progress=False, ledger=ledger)
print(f"{table.attrs['n_trials']} combinations tried")
print(describe(table.attrs["registration"]))
table.head(5).round(4)

# %%
keys = list(grid)
heatmap(table, keys[0], keys[1], "sharpe", f"{strategy}: Sharpe by parameters") if len(keys) >= 2 else None

# %% [markdown]
# ## Walk-forward

# %%
wf = walk_forward(cls, bars, grid, train, test, costs=costs, progress=False, ledger=ledger)
wf.windows.drop(columns=["train_start"]).round(4)

# %%
from nzeza.notebook.dashboard import equity_figure

equity_figure(wf.equity, f"{strategy}: stitched out-of-sample equity")

# %% [markdown]
# ## Lookahead check

# %%
chosen = cls(**{k: (v.item() if hasattr(v, "item") else v) for k, v in wf.windows.iloc[-1][keys].items()})
print(f"parameters chosen in the last window: {chosen.params}")
print(check_lookahead(chosen, bars.iloc[-3000:]))

# %% [markdown]
# ## Verdict

# %%
print(wf.verdict)

# %%
import json

ledger.close()
m = wf.verdict.metrics
record_metrics(metrics_path, {"strategy": strategy, "decision": wf.verdict.decision, "params": json.dumps(chosen.params),
                              "oos_sharpe": wf.stats["oos_sharpe"], "deflated_sharpe": m["deflated_sharpe"],
                              "n_trials": wf.n_trials, "pbo": m["pbo"], "oos_trades": wf.trades,
                              "identity": m["identity"], "verdict_id": wf.verdict.id})
