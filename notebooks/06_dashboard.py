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
# # 06 · Dashboard
#
# Positions, orders, PnL, feed health and breaker state of a running or finished session, read
# from its ledger and its `/metrics` endpoint. Point `ledger_url`, `session_id` and `metrics_url`
# at a session started with `nzeza paper ... --metrics-port 9108`. With nothing to show yet, this
# notebook runs a short paper session itself — the bundled Binance capture over a websocket replay
# server on 127.0.0.1 — and serves its metrics, so every panel below has real data.
# In JupyterLab the panel at the end refreshes itself with `dash.start(5)`.

# %% tags=["parameters"]
ledger_url = None       # None: a fresh demo ledger, filled by a short paper session below
session_id = "dashboard-demo"
metrics_url = None      # e.g. http://127.0.0.1:9108/metrics of a running nzeza paper session
metrics_path = None

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()           # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %%
from pathlib import Path

from nzeza.notebook import record_metrics
from nzeza.notebook.dashboard import Dashboard, health_frame, read_metrics, session_frames, session_summary
from nzeza.store import Ledger

if ledger_url is None:
    demo = Path("runs/notebooks/dashboard.sqlite")
    demo.parent.mkdir(parents=True, exist_ok=True)
    for stale in (demo, Path(f"{demo}-wal"), Path(f"{demo}-shm"), demo.with_suffix(".venue.sqlite")):
        stale.unlink(missing_ok=True)
    ledger_url = f"sqlite:///{demo}"
ledger = Ledger(ledger_url)
ops = None
if ledger.session(session_id) is None:  # nothing to show yet: a real paper session to look at
    from nzeza.domain import Costs
    from nzeza.notebook.sessions import paper_over_replay
    from nzeza.ops.health import Health, OpsServer
    from nzeza.ops.metrics import Metrics
    from nzeza.strategies import SmaCross

    metrics = Metrics()
    ops = OpsServer(metrics, Health()).start()
    metrics_url = metrics_url or ops.url + "/metrics"
    venue_db = Path(ledger_url.removeprefix("sqlite:///")).with_suffix(".venue.sqlite")
    venue_db.unlink(missing_ok=True)
    report = await paper_over_replay(SmaCross(fast=5, slow=20), "sma_cross", ledger, venue_db,
                                     session_id=session_id, timeframe="5s",
                                     costs=Costs(0.001, 0.0005), metrics=metrics)
summary = session_summary(ledger, session_id)
{k: summary[k] for k in ("mode", "status", "strategy", "fills", "equity", "return_pct", "max_drawdown_pct")}

# %% [markdown]
# ## Feed health and breakers

# %%
frames = session_frames(ledger, session_id)
health_frame(read_metrics(metrics_url) if metrics_url else {}, frames["risk_events"])

# %% [markdown]
# ## Positions and orders

# %%
frames["positions"]

# %%
frames["orders"][["client_order_id", "side", "quantity", "status", "avg_fill_price"]].tail(5)

# %% [markdown]
# ## The live panel

# %%
dash = Dashboard(ledger, session_id, metrics_url)
dash.refresh()
dash.widget

# %%
record_metrics(metrics_path, {"session": session_id, "fills": summary["fills"]})
