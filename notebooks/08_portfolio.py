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
# # 08 · Portfolio
#
# A portfolio strategy trades a panel of symbols with target weights and one shared cash account.
# Here the shipped example, `cross_sectional_momentum` (long the symbols with the best trailing
# return), goes through the same research integrity as a single-symbol strategy: a backtest on the
# bundled `bitstamp_1d` panel (BTC, ETH, LTC daily), a sweep whose every combination is a trial of
# the group (strategy family, panel fingerprint, timeframe), a walk-forward validation with its
# verdict (deflated Sharpe over the group's trial count, PBO, CPCV) and the lookahead check on the
# weights of every symbol. The engine runs the same strategy over the panel (`replay == backtest`,
# order for order) and in paper and live sessions over several symbols; promotion goes to paper,
# then to live once a paper session of the run agrees with research (the paper gate).
#
# The trials and the verdict go to a scratch ledger of its own (a temporary folder, removed at the
# end), so the notebook gives the same answer every time; set `ledger_url` to keep them in yours.
# The same from a terminal: `nzeza backtest|sweep|validate|lookahead cross_sectional_momentum
# --sample bitstamp_1d`.

# %% tags=["parameters"]
strategy = "cross_sectional_momentum"
params = {}               # overrides of the strategy's defaults (a dict or a JSON string)
sample = "bitstamp_1d"    # a panel: a sample or file holding several symbols (nzeza.data.load_panel)
train = 600               # walk-forward training window, bars (days here)
test = 300                # walk-forward test window, bars
fee = 0.001
slippage = 0.0005
ledger_url = None         # None: a scratch ledger in a temporary folder, removed at the end
metrics_path = None

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()           # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %%
import tempfile

from nzeza.data import load_panel
from nzeza.domain import Costs
from nzeza.store import open_ledger
from nzeza.strategies import get_strategy

cls = get_strategy(strategy)
strat = cls(**params)
panel = load_panel(sample)  # checked per symbol; a symbol may start later than the panel
costs = Costs(fee, slippage)
scratch = None if ledger_url else tempfile.mkdtemp(prefix="nzeza-08-")  # removed at the end
ledger_url = ledger_url or f"sqlite:///{scratch}/ledger.sqlite"
ledger = open_ledger(ledger_url)
symbols = list(dict.fromkeys(panel.columns.get_level_values(0)))
print(f"{strat!r}\non {sample}: {', '.join(symbols)}, {len(panel):,} bars "
      f"{panel.index[0]:%Y-%m-%d} → {panel.index[-1]:%Y-%m-%d}")
panel.xs("close", axis=1, level=1).notna().idxmax().rename("first bar").to_frame()

# %% [markdown]
# ## Backtest
# Weights decided at a close execute at the next open, for every symbol whose weight changed,
# sells before buys, out of one cash account (`nzeza.research.portfolio`).

# %%
from nzeza.research import backtest_portfolio

result = backtest_portfolio(strat, panel, costs, 10_000, ledger=ledger)
result.per_symbol().round(4)

# %%
result.stats.to_frame("portfolio").round(4)

# %%
from nzeza.research.plots import portfolio_figure

portfolio_figure(result, f"{cls.__name__} on {sample}")

# %% [markdown]
# ## The engine: replay == backtest
# The session engine (`nzeza.engine.portfolio_replay`: the `PortfolioTrader` a paper session runs,
# Decimal sizing, one ledger session with a position per symbol and shared cash) on the same
# panel and costs. Every order is compared: time, symbol and side exactly, size, price and fees
# relative; and the equity at every bar. From a terminal: `nzeza parity cross_sectional_momentum
# --sample bitstamp_1d`.

# %%
from nzeza.engine.portfolio_parity import compare_portfolio

parity = compare_portfolio(strat, panel, costs, 10_000)
print(parity)
parity.table.head(6).round(6)

# %% [markdown]
# ## Sweep
# The strategy's own `search_space`; every combination is a trial of the group in the ledger.

# %%
from nzeza.research.portfolio import sweep_portfolio

table = sweep_portfolio(cls, panel, cls.search_space, costs, progress=False, ledger=ledger)
reg = table.attrs["registration"]
print(f"{table.attrs['n_trials']} combinations tried; the group now has {reg.distinct} distinct trials")
table[[*cls.search_space, "sharpe", "total_return", "max_drawdown", "trades", "exposure"]].round(4)

# %% [markdown]
# ## Validate: walk-forward and verdict
# Each window chooses the parameters with the best in-sample Sharpe on its training bars and
# trades them on the next `test` bars; the verdict judges the stitched out-of-sample returns
# against every trial of the group (the sweep above included).

# %%
from nzeza.research import walk_forward

wf = walk_forward(cls, panel, cls.search_space, train, test, costs=costs, progress=False, ledger=ledger)
wf.windows.drop(columns=["train_start"]).round(4)

# %%
print(wf.verdict)

# %% [markdown]
# ## Lookahead check
# Does any symbol's weight at a bar change when the bars after it are removed?

# %%
from nzeza.research import check_lookahead

keys = list(cls.search_space)
chosen = cls(**{k: (v.item() if hasattr(v, "item") else v) for k, v in wf.windows.iloc[-1][keys].items()})
print(f"parameters chosen in the last window: {chosen.params}")
look = check_lookahead(chosen, panel)
print(look)

# %% [markdown]
# ## Promotion
# To paper, the gates run on the panel: this exact code and parameters need a SCALE verdict,
# the weights of every symbol must pass the lookahead check, and the engine's *windowed* replay
# (the trailing `warmup` rows at every bar, what a session sees) must equal the backtest order
# for order. This strategy rebalances on a calendar: where `bitstamp_1d` has a 13-day hole
# (2019-03-19 → 2019-04-01) a window of `warmup` rows can hold no rebalance day, so the windowed
# replay may differ there and the parity gate says so. To live, the promotion names the symbols the
# live session trades, in order, and needs the paper gate too: a paper portfolio session of this
# run measured against research on the panel rebuilt from its feed (per symbol and for the
# portfolio, `nzeza divergence SESSION`). There is none in this scratch ledger, so it is refused
# and says why; naming one symbol is refused outright.

# %%
from nzeza.errors import ValidationError
from nzeza.promotion import promote

decision = promote("08_portfolio.ipynb", "paper", strategy=strategy, params=chosen.params,
                   ledger=ledger, bars=panel, costs=costs)
print(decision)
live = promote("08_portfolio.ipynb", "live", strategy=strategy, params=chosen.params,
               ledger=ledger, bars=panel, costs=costs, venue="binance", symbol="BTC/USDT,ETH/USDT")
print(f"live binds {live.binding['symbol']} on {live.binding['venue']}: passed {live.passed}")
print(next(g for g in live.gates if g.name == "paper"))
try:
    promote("08_portfolio.ipynb", "live", strategy=strategy, params=chosen.params, ledger=ledger,
            bars=panel, costs=costs, venue="binance", symbol="BTC/USDT")
except ValidationError as exc:
    print(f"live on one symbol: refused: {exc}")

# %%
import shutil

from nzeza.notebook import record_metrics

ledger.close()
if scratch is not None:
    shutil.rmtree(scratch, ignore_errors=True)
m = wf.verdict.metrics
metrics = record_metrics(metrics_path, {"strategy": strategy, "decision": wf.verdict.decision,
                                        "n_trials": wf.n_trials, "deflated_sharpe": m["deflated_sharpe"],
                                        "sharpe": result.stats["sharpe"],
                                        "lookahead_ok": look.ok})
