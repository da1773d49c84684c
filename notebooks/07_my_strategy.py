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
# # 07 · My strategy
#
# A strategy of your own, from a file to a promotion decision: `strategies/above_mean.py` (next to
# this notebook) holds a small `Strategy` class. Any command or notebook takes it as
# `strategies/above_mean.py:AboveMean` — no package, no install. Here it is backtested on bundled
# data, swept, validated (walk-forward and verdict), checked for lookahead, and put to the
# promotion gates, which refuse it with their reasons. `docs/strategies.md` explains each step.
#
# This notebook records its trials, verdict and promotion decision in a scratch ledger of its own
# (a temporary folder, removed at the end), so it gives the same answer every time; set
# `ledger_url` to keep them in yours.

# %% tags=["parameters"]
strategy = "strategies/above_mean.py:AboveMean"
params = {}               # overrides of the strategy's defaults (a dict or a JSON string)
sample = "btc_usd_1h"     # or your own file: any path or ccxt:VENUE:SYMBOL:TIMEFRAME (nzeza.data.load)
last_bars = 24 * 365 * 2
train = 24 * 120
test = 24 * 60
fee = 0.001
slippage = 0.0005
ledger_url = None         # None: a scratch ledger in a temporary folder, removed at the end
metrics_path = None

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()           # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %% [markdown]
# ## The strategy file

# %%
from pathlib import Path

print(Path(strategy.rpartition(":")[0]).read_text())

# %%
import tempfile

from nzeza.data import load
from nzeza.domain import Costs
from nzeza.store import open_ledger
from nzeza.strategies import get_strategy

cls = get_strategy(strategy)          # a name, module:Class or path/to/file.py:Class
strat = cls(**params)
bars = load(sample).iloc[-last_bars:]  # checked: sorted, unique, finite, high/low consistent
costs = Costs(fee, slippage)
scratch = None if ledger_url else tempfile.mkdtemp(prefix="nzeza-07-")  # removed at the end
ledger_url = ledger_url or f"sqlite:///{scratch}/ledger.sqlite"
ledger = open_ledger(ledger_url)
print(f"{strat!r} on {sample}: {len(bars):,} bars {bars.index[0]:%Y-%m-%d} → {bars.index[-1]:%Y-%m-%d}")

# %% [markdown]
# ## Backtest

# %%
from nzeza.research import backtest

result = backtest(strat, bars, costs, 10_000, ledger=ledger)
result.stats.to_frame("value").round(4)

# %%
from nzeza.notebook.dashboard import equity_figure

equity_figure(result.equity.resample("1D").last(), f"{cls.__name__}: equity (daily closes)")

# %% [markdown]
# ## Sweep\nThe strategy's own `search_space`; every combination is a trial in the ledger.

# %%
from nzeza.research import sweep

table = sweep(cls, bars, cls.search_space, costs, progress=False, ledger=ledger)
print(f"{table.attrs['n_trials']} combinations tried")
table[[*cls.search_space, "sharpe", "total_return", "max_drawdown", "trades", "exposure"]].round(4)

# %% [markdown]
# ## Validate: walk-forward and verdict

# %%
from nzeza.research import walk_forward

wf = walk_forward(cls, bars, cls.search_space, train, test, costs=costs, progress=False, ledger=ledger)
wf.windows.drop(columns=["train_start"]).round(4)

# %%
print(wf.verdict)

# %% [markdown]
# ## Lookahead check
# Does the target at a bar change when the bars after it are removed?

# %%
from nzeza.research import check_lookahead

keys = list(cls.search_space)
chosen = cls(**{k: (v.item() if hasattr(v, "item") else v) for k, v in wf.windows.iloc[-1][keys].items()})
print(f"parameters chosen in the last window: {chosen.params}")
print(check_lookahead(chosen, bars.iloc[-3000:]))

# %% [markdown]
# ## Try to promote it
#
# The paper gate needs a SCALE verdict in the ledger for exactly this code and these parameters,
# a clean lookahead check and parity between the research backtest and the engine's replay. A
# refusal is recorded too (`nzeza promotions`). From a terminal, the same:
# `nzeza promote notebooks/07_my_strategy.ipynb --to paper --strategy notebooks/strategies/above_mean.py:AboveMean`.

# %%
from nzeza.promotion import promote

decision = promote("07_my_strategy.ipynb", "paper", strategy=strategy, params=chosen.params,
                   ledger=ledger, bars=bars.iloc[-2000:], costs=costs)
print(decision)

# %%
import shutil

from nzeza.notebook import record_metrics

ledger.close()
if scratch is not None:
    shutil.rmtree(scratch, ignore_errors=True)
m = wf.verdict.metrics
metrics = record_metrics(metrics_path, {"strategy": strategy, "decision": wf.verdict.decision,
                                        "promoted": decision.passed, "n_trials": wf.n_trials,
                                        "deflated_sharpe": m["deflated_sharpe"], "sharpe": result.stats["sharpe"]})
