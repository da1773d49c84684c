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
# # 01 · Data
#
# The bundled real samples, their validation report, and a look at the bars. Every sample is real
# exchange data (see `nzeza/data/NOTICE.md` for sources and licences); the loaders fix the quirks
# of the raw files (newest-first order, swapped volume columns, banner lines) and the validator
# reports what real data still has: gaps, outliers, zero-volume runs.

# %% tags=["parameters"]
sample = "btc_usd_1h"   # one of nzeza.data.list_samples()
timeframe = "1h"
plot_last = 24 * 60     # bars shown in the candlestick chart
metrics_path = None     # set by pipelines

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()           # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %%
from nzeza.data import list_samples, load_sample, validate_ohlcv
from nzeza.notebook import record_metrics

list_samples()

# %%
bars = load_sample(sample)
bars.describe().round(2)

# %% [markdown]
# ## Validation report
# What the validator finds in the real data, by problem.

# %%
report = validate_ohlcv(bars, timeframe)
print(report)

# %%
report.to_frame().head(10)

# %% [markdown]
# ## Candles and volume

# %%
import plotly.graph_objects as go
from plotly.subplots import make_subplots

recent = bars.iloc[-plot_last:]
fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.02)
fig.add_trace(go.Candlestick(x=recent.index, open=recent.open, high=recent.high, low=recent.low,
                             close=recent.close, name=sample), row=1, col=1)
fig.add_trace(go.Bar(x=recent.index, y=recent.volume, name="volume"), row=2, col=1)
fig.update_layout(height=550, xaxis_rangeslider_visible=False, template="plotly_white",
                  title=f"{sample}: last {len(recent)} bars")
fig

# %%
record_metrics(metrics_path, {"sample": sample, "rows": len(bars), "issues": sum(report.counts.values()),
                              "ok": report.ok})
