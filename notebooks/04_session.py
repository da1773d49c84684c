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
# # 04 · Session
#
# The same strategy object through the session engine. `mode="replay"` runs historical bars
# through the full engine (risk, paper venue, ledger) and compares it with the research backtest
# trade for trade. `mode="paper"` streams the bundled Binance capture over a real websocket
# replay server on 127.0.0.1, builds bars from its trades, and trades them on the paper venue.

# %% tags=["parameters"]
strategy = "sma_cross"
params = {}                # overrides of the strategy's defaults (a dict or a JSON string)
mode = "replay"            # replay | paper
feed = "sample:btc_usd_1h" # sample:NAME (replay) | capture:binance_btcusdt (paper)
bars_count = 24 * 90
timeframe = "5s"           # paper mode bar size
session_id = "nb04"
run_dir = None             # its ledger and paper venue files; None: a fresh temporary folder
metrics_path = None

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()           # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %%
from decimal import Decimal

from nzeza.domain import Costs
from nzeza.notebook import record_metrics
from nzeza.notebook.sessions import session_ledger
from nzeza.strategies import get_strategy

import tempfile

run_dir = run_dir or tempfile.mkdtemp(prefix="nzeza-04-")  # every run starts from nothing
ledger, venue_db = session_ledger(session_id, run_dir)
costs = Costs(0.001, 0.0005)
strat = get_strategy(strategy)(**params)

# %%
if mode == "replay":
    from nzeza.data import load_sample
    from nzeza.engine import replay
    from nzeza.engine.parity import compare

    bars = load_sample(feed.split(":", 1)[1]).iloc[-bars_count:]
    result = replay(strat, bars, costs, 10_000, ledger=ledger, session_id=session_id)
    parity = compare(strat, bars, costs, 10_000)
    summary = {"bars": len(bars), "fills": len(result.fills), "final_equity": round(result.final_equity, 6)}
    print(parity)
else:
    from nzeza.engine.runner import risk_hook, session_instrument
    from nzeza.engine.session import Session, SessionConfig
    from nzeza.engine.feed import replay_feed
    from nzeza.feeds import capture
    from nzeza.feeds.bars import timeframe_ns
    from nzeza.feeds.replay import ReplayServer
    from nzeza.venues.paper.durable import DurablePaperVenue

    inst = session_instrument("BTCUSDT")
    venue = DurablePaperVenue(venue_db, [inst], costs)
    cfg = SessionConfig(session_id, strat, strategy, strat.params, inst, costs, Decimal(10_000),
                        timeframe_ns(timeframe))
    session = Session(cfg, ledger, venue)
    session.pre_trade = risk_hook(ledger, session_id, inst, session.portfolio)
    async with ReplayServer([capture.bundled(n) for n in capture.BINANCE_BTCUSDT]) as server:
        report = await session.run(replay_feed(server.url, "BTCUSDT"))
    summary = {"bars": report.bars, "fills": report.fills, "final_equity": round(float(report.final_equity), 6)}
summary

# %% [markdown]
# ## Ledger: trades, equity, risk events

# %%
from nzeza.notebook.dashboard import equity_figure, session_frames, session_summary

frames = session_frames(ledger, session_id)
frames["fills"].tail(6)

# %%
equity_figure(frames["equity"]["equity"], f"{session_id} ({mode}) equity")

# %%
print(f"risk events: {len(frames['risk_events'])}")
print(ledger.verify_audit())
s = session_summary(ledger, session_id)
{k: s[k] for k in ("mode", "status", "fills", "risk_events", "equity", "return_pct", "max_drawdown_pct")}

# %%
record_metrics(metrics_path, {"mode": mode, "strategy": strategy, **summary})
ledger.close()
