"""Build the product notebooks from their source here, then execute them in place.

The notebooks in `notebooks/` are product: numbered, with a `parameters` cell for papermill, no
hidden state, and stored outputs that `make test` checks with nbval. Their source lives in this
file so a change is a reviewable diff; `make notebooks` rewrites and re-executes them.

    .venv/bin/python scripts/build_notebooks.py            # all
    .venv/bin/python scripts/build_notebooks.py 01_data    # one
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import papermill as pm

from nzeza.pipeline.runner import sign_notebook

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"

SETUP = """\
import warnings
warnings.filterwarnings("ignore")
import pandas as pd
import plotly.io as pio
pio.renderers.default = "plotly_mimetype"  # JSON only: JupyterLab renders it, no 3 MB bundle
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 12)

from nzeza.notebook import use_parameters

use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}


def md(text: str) -> tuple[str, str]:
    return ("markdown", text.strip())


def code(text: str) -> tuple[str, str]:
    return ("code", text.strip())


def params(text: str) -> tuple[str, str]:
    return ("parameters", text.strip())


NOTEBOOKS["01_data"] = [
    md("""
# 01 · Data

The bundled real samples, their validation report, and a look at the bars. Every sample is real
exchange data (see `nzeza/data/NOTICE.md` for sources and licences); the loaders fix the quirks
of the raw files (newest-first order, swapped volume columns, banner lines) and the validator
reports what real data still has: gaps, outliers, zero-volume runs.
"""),
    params("""
sample = "btc_usd_1h"   # one of nzeza.data.list_samples()
timeframe = "1h"
plot_last = 24 * 60     # bars shown in the candlestick chart
metrics_path = None     # set by pipelines"""),
    code(SETUP),
    code("""
from nzeza.data import list_samples, load_sample, validate_ohlcv
from nzeza.notebook import record_metrics

list_samples()"""),
    code("""
bars = load_sample(sample)
bars.describe().round(2)"""),
    md("## Validation report\nWhat the validator finds in the real data, by problem."),
    code("""
report = validate_ohlcv(bars, timeframe)
print(report)"""),
    code("""report.to_frame().head(10)"""),
    md("## Candles and volume"),
    code("""
import plotly.graph_objects as go
from plotly.subplots import make_subplots

recent = bars.iloc[-plot_last:]
fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.02)
fig.add_trace(go.Candlestick(x=recent.index, open=recent.open, high=recent.high, low=recent.low,
                             close=recent.close, name=sample), row=1, col=1)
fig.add_trace(go.Bar(x=recent.index, y=recent.volume, name="volume"), row=2, col=1)
fig.update_layout(height=550, xaxis_rangeslider_visible=False, template="plotly_white",
                  title=f"{sample}: last {len(recent)} bars")
fig"""),
    code("""
record_metrics(metrics_path, {"sample": sample, "rows": len(bars), "issues": sum(report.counts.values()),
                              "ok": report.ok})"""),
]


NOTEBOOKS["02_research"] = [
    md("""
# 02 · Research

One strategy, one sample, one backtest — the fill convention stated once: a target decided at a
bar's close executes at the next bar's open, buys at open × (1 + slippage), sells at
open × (1 − slippage), fee on notional. Change the parameters cell (or run it through papermill
with `-p`) to see another strategy; the explorer below does the same interactively.
"""),
    params("""
strategy = "sma_cross"
params = {}               # overrides of the strategy's defaults (a dict or a JSON string)
sample = "btc_usd_1h"
last_bars = 24 * 365      # the most recent year
fee = 0.001
slippage = 0.0005
metrics_path = None"""),
    code(SETUP),
    code("""
from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.notebook import record_metrics
from nzeza.research import backtest
from nzeza.strategies import get_strategy

bars = load_sample(sample).iloc[-last_bars:]
strat = get_strategy(strategy)(**params)
result = backtest(strat, bars, Costs(fee, slippage), 10_000)
strat"""),
    md("## Statistics"),
    code("""result.stats.to_frame("value").round(4)"""),
    md("## Equity, trades and drawdown"),
    code("""result.plot()"""),
    code("""result.trades.tail(8).round(4)"""),
    md(
        "## Explore interactively\nIn JupyterLab, change the strategy or a parameter and the backtest reruns."
    ),
    code("""
from nzeza.notebook.widgets import strategy_explorer

explorer = strategy_explorer(bars.iloc[-24 * 90:], Costs(fee, slippage), default=strategy)
explorer"""),
    code("""
record_metrics(metrics_path, {"strategy": strategy, **{f"p_{k}": v for k, v in params.items()},
                              "sharpe": result.stats["sharpe"], "total_return": result.stats["total_return"],
                              "max_drawdown": result.stats["max_drawdown"], "trades": result.stats["trades"]})"""),
]

NOTEBOOKS["03_validate"] = [
    md("""
# 03 · Validate

Is the edge real? Every backtest here is a trial in the ledger's trial registry, grouped by
strategy family, data set and timeframe. A sweep registers its combinations, walk-forward judges
only out-of-sample results, the lookahead check proves the strategy cannot see the future, and the
verdict deflates the Sharpe ratio by **every** distinct trial of the group — including earlier
sweeps on these bars, so a grid of one cannot shrink the count — and requires a low probability of
backtest overfitting (PBO by CSCV) and a positive tail of the combinatorial purged cross-validation
(CPCV) paths. The verdict is recorded in the ledger: the promotion gate reads it there, never from a
file.
"""),
    params("""
strategy = "sma_cross"
grid = None               # None: the strategy's own search_space
sample = "btc_usd_1h"
last_bars = 24 * 365 * 2
train = 24 * 120
test = 24 * 60
fee = 0.001
slippage = 0.0005
ledger_url = None         # None: the configured ledger (NZEZA_LEDGER_URL, else runs/ledger.sqlite)
metrics_path = None"""),
    code(SETUP),
    code("""
from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.notebook import record_metrics
from nzeza.research import check_lookahead, heatmap, sweep, walk_forward
from nzeza.research.trials import describe
from nzeza.store import open_ledger
from nzeza.strategies import get_strategy

cls = get_strategy(strategy)
grid = grid or cls.search_space
bars = load_sample(sample).iloc[-last_bars:]
costs = Costs(fee, slippage)
ledger = open_ledger(ledger_url)  # the trial registry and the verdicts live here
print(f"{cls.__name__}: sweeping {grid}")
table = sweep(cls, bars, grid, costs, progress=False, ledger=ledger)
print(f"{table.attrs['n_trials']} combinations tried")
print(describe(table.attrs["registration"]))
table.head(5).round(4)"""),
    code("""
keys = list(grid)
heatmap(table, keys[0], keys[1], "sharpe", f"{strategy}: Sharpe by parameters") if len(keys) >= 2 else None"""),
    md("## Walk-forward"),
    code("""
wf = walk_forward(cls, bars, grid, train, test, costs=costs, progress=False, ledger=ledger)
wf.windows.drop(columns=["train_start"]).round(4)"""),
    code("""
from nzeza.notebook.dashboard import equity_figure

equity_figure(wf.equity, f"{strategy}: stitched out-of-sample equity")"""),
    md("## Lookahead check"),
    code("""
chosen = cls(**{k: (v.item() if hasattr(v, "item") else v) for k, v in wf.windows.iloc[-1][keys].items()})
print(f"parameters chosen in the last window: {chosen.params}")
print(check_lookahead(chosen, bars.iloc[-3000:]))"""),
    md("## Verdict"),
    code("""print(wf.verdict)"""),
    code("""
import json

ledger.close()
m = wf.verdict.metrics
record_metrics(metrics_path, {"strategy": strategy, "decision": wf.verdict.decision, "params": json.dumps(chosen.params),
                              "oos_sharpe": wf.stats["oos_sharpe"], "deflated_sharpe": m["deflated_sharpe"],
                              "n_trials": wf.n_trials, "pbo": m["pbo"], "oos_trades": wf.trades,
                              "identity": m["identity"], "verdict_id": wf.verdict.id})"""),
]

NOTEBOOKS["04_session"] = [
    md("""
# 04 · Session

The same strategy object through the session engine. `mode="replay"` runs historical bars
through the full engine (risk, paper venue, ledger) and compares it with the research backtest
trade for trade. `mode="paper"` streams the bundled Binance capture over a real websocket
replay server on 127.0.0.1, builds bars from its trades, and trades them on the paper venue.
"""),
    params("""
strategy = "sma_cross"
params = {}                # overrides of the strategy's defaults (a dict or a JSON string)
mode = "replay"            # replay | paper
feed = "sample:btc_usd_1h" # sample:NAME (replay) | capture:binance_btcusdt (paper)
bars_count = 24 * 90
timeframe = "5s"           # paper mode bar size
session_id = "nb04"
run_dir = "runs/notebooks" # this session's own ledger and paper venue files
metrics_path = None"""),
    code(SETUP),
    code("""
from decimal import Decimal
from pathlib import Path

from nzeza.domain import Costs
from nzeza.notebook import record_metrics
from nzeza.notebook.sessions import session_ledger
from nzeza.strategies import get_strategy

ledger, venue_db = session_ledger(session_id, run_dir)
costs = Costs(0.001, 0.0005)
strat = get_strategy(strategy)(**params)"""),
    code("""
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
summary"""),
    md("## Ledger: trades, equity, risk events"),
    code("""
from nzeza.notebook.dashboard import equity_figure, session_frames, session_summary

frames = session_frames(ledger, session_id)
frames["fills"].tail(6)"""),
    code("""equity_figure(frames["equity"]["equity"], f"{session_id} ({mode}) equity")"""),
    code("""
print(f"risk events: {len(frames['risk_events'])}")
print(ledger.verify_audit())
s = session_summary(ledger, session_id)
{k: s[k] for k in ("mode", "status", "fills", "risk_events", "equity", "return_pct", "max_drawdown_pct")}"""),
    code("""
record_metrics(metrics_path, {"mode": mode, "strategy": strategy, **summary})
ledger.close()"""),
]

NOTEBOOKS["05_live"] = [
    md("""
# 05 · Live

The same session with `mode="live"`. Live is opt-in twice (DESIGN principle 7): it needs live
settings (https/wss endpoints, well-formed credentials from the environment or `.env`, the
explicit confirmation) **and** a passed live promotion that binds this exact run: the strategy's
code (class path + source hash), its parameters, the symbol, the venue, the timeframe, the costs,
the sizing and the risk settings. This notebook checks every gate — the very checks `nzeza live`
makes — and refuses, naming each one missing and each difference from the promoted run.
"""),
    params("""
strategy = "sma_cross"
params = {}             # overrides of the strategy's defaults (a dict or a JSON string)
symbol = "BTCUSDT"
timeframe = "1h"        # the bars the session would trade on (the verdict's)
fee = 0.001
slippage = 0.0005
mode = "live"
ledger_url = "sqlite:///runs/notebooks/live-gates.sqlite"
metrics_path = None"""),
    code(SETUP),
    code("""
from nzeza.errors import LiveTradingNotAllowed
from nzeza.notebook import record_metrics
from nzeza.notebook.live import live_gates

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
    print(gate)"""),
    code("""
missing = [g.name for g in gates if not g.passed]
if missing:
    print(f"REFUSED: live session not started; missing gate(s): {', '.join(missing)}")
else:
    print(
        f"all gates pass: start it with `nzeza live --strategy {strategy} --symbol {symbol} "
        f"--timeframe {timeframe} --fee {fee} --slippage {slippage} ...`"
    )
record_metrics(metrics_path, {"strategy": strategy, "refused": bool(missing), "missing": ",".join(missing)})"""),
]

NOTEBOOKS["06_dashboard"] = [
    md("""
# 06 · Dashboard

Positions, orders, PnL, feed health and breaker state of a running or finished session, read
from its ledger and its `/metrics` endpoint. Point `ledger_url`, `session_id` and `metrics_url`
at a session started with `nzeza paper ... --metrics-port 9108`. With nothing to show yet, this
notebook runs a short paper session itself — the bundled Binance capture over a websocket replay
server on 127.0.0.1 — and serves its metrics, so every panel below has real data.
In JupyterLab the panel at the end refreshes itself with `dash.start(5)`.
"""),
    params("""
ledger_url = None       # None: a fresh demo ledger, filled by a short paper session below
session_id = "dashboard-demo"
metrics_url = None      # e.g. http://127.0.0.1:9108/metrics of a running nzeza paper session
metrics_path = None"""),
    code(SETUP),
    code("""
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
{k: summary[k] for k in ("mode", "status", "strategy", "fills", "equity", "return_pct", "max_drawdown_pct")}"""),
    md("## Feed health and breakers"),
    code("""
frames = session_frames(ledger, session_id)
health_frame(read_metrics(metrics_url) if metrics_url else {}, frames["risk_events"])"""),
    md("## Positions and orders"),
    code("""frames["positions"]"""),
    code(
        """frames["orders"][["client_order_id", "side", "quantity", "status", "avg_fill_price"]].tail(5)"""
    ),
    md("## The live panel"),
    code("""
dash = Dashboard(ledger, session_id, metrics_url)
dash.refresh()
dash.widget"""),
    code("""record_metrics(metrics_path, {"session": session_id, "fills": summary["fills"]})"""),
]

NOTEBOOKS["07_my_strategy"] = [
    md("""
# 07 · My strategy

A strategy of your own, from a file to a promotion decision: `strategies/above_mean.py` (next to
this notebook) holds a small `Strategy` class. Any command or notebook takes it as
`strategies/above_mean.py:AboveMean` — no package, no install. Here it is backtested on bundled
data, swept, validated (walk-forward and verdict), checked for lookahead, and put to the
promotion gates, which refuse it with their reasons. `docs/strategies.md` explains each step.

This notebook records its trials, verdict and promotion decision in a scratch ledger of its own
(a temporary folder, removed at the end), so it gives the same answer every time; set
`ledger_url` to keep them in yours.
"""),
    params("""
strategy = "strategies/above_mean.py:AboveMean"
params = {}               # overrides of the strategy's defaults (a dict or a JSON string)
sample = "btc_usd_1h"     # or your own file: any path or ccxt:VENUE:SYMBOL:TIMEFRAME (nzeza.data.load)
last_bars = 24 * 365 * 2
train = 24 * 120
test = 24 * 60
fee = 0.001
slippage = 0.0005
ledger_url = None         # None: a scratch ledger in a temporary folder, removed at the end
metrics_path = None"""),
    code(SETUP),
    md("## The strategy file"),
    code("""
from pathlib import Path

print(Path(strategy.rpartition(":")[0]).read_text())"""),
    code("""
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
print(f"{strat!r} on {sample}: {len(bars):,} bars {bars.index[0]:%Y-%m-%d} → {bars.index[-1]:%Y-%m-%d}")"""),
    md("## Backtest"),
    code("""
from nzeza.research import backtest

result = backtest(strat, bars, costs, 10_000, ledger=ledger)
result.stats.to_frame("value").round(4)"""),
    code("""
from nzeza.notebook.dashboard import equity_figure

equity_figure(result.equity.resample("1D").last(), f"{cls.__name__}: equity (daily closes)")"""),
    md("## Sweep\\nThe strategy's own `search_space`; every combination is a trial in the ledger."),
    code("""
from nzeza.research import sweep

table = sweep(cls, bars, cls.search_space, costs, progress=False, ledger=ledger)
print(f"{table.attrs['n_trials']} combinations tried")
table[[*cls.search_space, "sharpe", "total_return", "max_drawdown", "trades", "exposure"]].round(4)"""),
    md("## Validate: walk-forward and verdict"),
    code("""
from nzeza.research import walk_forward

wf = walk_forward(cls, bars, cls.search_space, train, test, costs=costs, progress=False, ledger=ledger)
wf.windows.drop(columns=["train_start"]).round(4)"""),
    code("""print(wf.verdict)"""),
    md("## Lookahead check\\nDoes the target at a bar change when the bars after it are removed?"),
    code("""
from nzeza.research import check_lookahead

keys = list(cls.search_space)
chosen = cls(**{k: (v.item() if hasattr(v, "item") else v) for k, v in wf.windows.iloc[-1][keys].items()})
print(f"parameters chosen in the last window: {chosen.params}")
print(check_lookahead(chosen, bars.iloc[-3000:]))"""),
    md("""
## Try to promote it

The paper gate needs a SCALE verdict in the ledger for exactly this code and these parameters,
a clean lookahead check and parity between the research backtest and the engine's replay. A
refusal is recorded too (`nzeza promotions`). From a terminal, the same:
`nzeza promote notebooks/07_my_strategy.ipynb --to paper --strategy notebooks/strategies/above_mean.py:AboveMean`.
"""),
    code("""
from nzeza.promotion import promote

decision = promote("07_my_strategy.ipynb", "paper", strategy=strategy, params=chosen.params,
                   ledger=ledger, bars=bars.iloc[-2000:], costs=costs)
print(decision)"""),
    code("""
import shutil

from nzeza.notebook import record_metrics

ledger.close()
if scratch is not None:
    shutil.rmtree(scratch, ignore_errors=True)
m = wf.verdict.metrics
metrics = record_metrics(metrics_path, {"strategy": strategy, "decision": wf.verdict.decision,
                                        "promoted": decision.passed, "n_trials": wf.n_trials,
                                        "deflated_sharpe": m["deflated_sharpe"], "sharpe": result.stats["sharpe"]})"""),
]


def kernelspec() -> dict[str, str]:
    """The installed `python3` kernelspec, exactly as JupyterLab will describe it: a notebook
    whose stored kernelspec differs (e.g. "Python 3" vs "Python 3 (ipykernel)") is rewritten,
    so marked modified, the moment JupyterLab opens it."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"name": "python3", "display_name": spec.display_name, "language": spec.language}


def stabilise(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Make a built notebook byte-stable across rebuilds and unmodified when opened:
    nbformat 4.5 with cell ids derived from the notebook and the cell's position (random ids
    changed on every rebuild), the installed kernelspec, and no papermill run stamps. The
    `language_info` papermill recorded from the kernel is kept: JupyterLab rewrites it from the
    kernel it starts, so it must be the kernel's own (same Python as the project's .venv)."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata["kernelspec"] = kernelspec()
    nb.metadata.pop("papermill", None)
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name}-{index:02d}"
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def source_notebook(name: str) -> nbformat.NotebookNode:
    """The notebook `name` from its source here, not executed (stable ids and metadata)."""
    nb = nbformat.v4.new_notebook()
    for kind, source in NOTEBOOKS[name]:
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    nb.metadata["language_info"] = {"name": "python"}
    return stabilise(nb, name)


def write_source(name: str, path: Path) -> Path:
    """Write the unexecuted notebook `name` to `path` (tests run the source through papermill)."""
    nbformat.write(source_notebook(name), path)
    return path


def build(name: str, folder: Path = NB_DIR) -> Path:
    """Write notebook `name` from source into `folder` and execute it there, in place."""
    path = write_source(name, folder / f"{name}.ipynb")
    # papermill (nbclient) stores the widgets' state in the notebook's metadata, so JupyterLab
    # draws the stored widgets instead of their text repr
    pm.execute_notebook(
        str(path), str(path), cwd=str(folder), kernel_name="python3", progress_bar=False
    )
    out = stabilise(nbformat.read(path, as_version=4), name)
    nbformat.write(out, path)
    # trusted for this user: JupyterLab renders widgets only in trusted notebooks (`make
    # install` trusts the stored notebooks on a fresh clone the same way)
    sign_notebook(path)
    return path


def main(argv: list[str]) -> int:
    names = argv or sorted(NOTEBOOKS)
    for name in names:
        if name not in NOTEBOOKS:
            print(f"unknown notebook {name!r}; known: {', '.join(sorted(NOTEBOOKS))}")
            return 2
        print(f"building {build(name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
