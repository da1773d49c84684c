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
# # 05 · Live
#
# The same session with `mode="live"`. Live is opt-in twice (DESIGN principle 7): it needs live
# settings (https/wss endpoints, well-formed credentials from the environment or `.env`, the
# explicit confirmation) **and** a passed live promotion that binds this exact run: the strategy's
# code (class path + source hash), its parameters, the symbol, the venue, the timeframe, the costs,
# the sizing and the risk settings. This notebook checks every gate — the very checks `nzeza live`
# makes — and refuses, naming each one missing and each difference from the promoted run.

# %% tags=["parameters"]
strategy = "sma_cross"
params = {}             # overrides of the strategy's defaults (a dict or a JSON string)
symbol = "BTCUSDT"
timeframe = "1h"        # the bars the session would trade on (the verdict's)
fee = 0.001
slippage = 0.0005
mode = "live"
ledger_url = None       # the ledger holding the promotions; None: a fresh scratch ledger (refused)
metrics_path = None

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()           # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %%
from nzeza.notebook import record_metrics
from nzeza.notebook.live import live_gates

import tempfile

if ledger_url is None:  # a ledger with no promotion in it: every gate that needs one says so
    ledger_url = f"sqlite:///{tempfile.mkdtemp(prefix='nzeza-05-')}/ledger.sqlite"
gates = live_gates(
    strategy,
    params,
    ledger_url=ledger_url,
    symbol=symbol,
    timeframe=timeframe,
    fee=fee,
    slippage=slippage,
)
for gate in gates:
    print(gate)

# %%
missing = [g.name for g in gates if not g.passed]
if missing:
    print(f"REFUSED: live session not started; missing gate(s): {', '.join(missing)}")
else:
    print(
        f"all gates pass: start it with `nzeza live --strategy {strategy} --symbol {symbol} "
        f"--timeframe {timeframe} --fee {fee} --slippage {slippage} ...`"
    )
record_metrics(metrics_path, {"strategy": strategy, "refused": bool(missing), "missing": ",".join(missing)})
