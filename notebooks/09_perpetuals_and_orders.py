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
# # 09 · Perpetuals and orders beyond market
#
# Two questions a quant asks before trading a strategy on a perpetual-futures venue:
#
# 1. **What do the fills cost?** The same strategy with market orders (taker fee and slippage on
#    every fill), limit orders (taker at the open when the limit is already through it, maker
#    inside the bar) and post-only orders (maker only, refused when they would cross), under the
#    venue's maker and taker fees. The bar rules are in `docs/orders.md`.
# 2. **What do leverage and funding do?** The strategy as a perpetual: targets × leverage, funding
#    paid or received at every funding time on the position held then (payment = −size × mark ×
#    rate), and liquidation at the price the maintenance margin gives (`docs/perpetuals.md`).
#
# **No funding history is bundled** (none is available offline). The funding series below is
# *constructed*: a constant rate at the venue's funding interval, to show its effect; it is not
# market data. Download the real history with `nzeza data funding binanceusdm BTC/USDT:USDT
# --since 2018-05-15` and pass it as `funding_file` (Parquet or CSV with `ts`, `funding_rate`).
#
# The same from a terminal: `nzeza backtest sma_cross --sample btc_usd_1h --order-type limit
# --offset 0.001 --maker-fee 0.0002 --taker-fee 0.0005` and `nzeza backtest sma_cross --sample
# btc_usd_1h --perp binance --leverage 3 --funding FILE`.

# %% tags=["parameters"]
strategy = "sma_cross"
params = {}  # overrides of the strategy's defaults (a dict or a JSON string)
sample = "btc_usd_1h"
last_bars = 24 * 365  # the last year of the sample
maker_fee = 0.0002  # the venue's fees as fractions (2 bps maker, 5 bps taker)
taker_fee = 0.0005
slippage = 0.0005  # takers only
offset = 0.001  # limit and post-only prices: 10 bps better than the deciding close
ttl = 2  # bars an unfilled order works before it is cancelled
venue = "binance"  # funding every 8 h (dydx, hyperliquid: every hour)
leverages = [1, 3, 20]
funding_rate = 0.0001  # constructed: +0.01 % per funding interval (longs pay)
funding_file = None  # a real funding history instead (nzeza data funding ...)
maintenance_margin = 0.005
metrics_path = None

# %%
from nzeza.notebook import setup_notebook, use_parameters

setup_notebook()  # plotly as JSON, pandas display width, warnings off (stable outputs)
use_parameters(globals())  # JSON strings accepted; `params` completed with the strategy's defaults

# %%
import shutil
import tempfile

import pandas as pd

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.store import open_ledger
from nzeza.strategies import get_strategy

strat = get_strategy(strategy)(**params)
bars = load_sample(sample).iloc[-last_bars:]
costs = Costs(maker=maker_fee, taker=taker_fee, slippage=slippage)
scratch = tempfile.mkdtemp(
    prefix="nzeza-09-"
)  # the trials go to a scratch ledger, removed at the end
ledger = open_ledger(f"sqlite:///{scratch}/ledger.sqlite")
print(
    f"{strat!r} on {sample}: {len(bars):,} bars {bars.index[0]:%Y-%m-%d} → {bars.index[-1]:%Y-%m-%d}"
)
print(costs)

# %% [markdown]
# ## Market, limit and post-only orders
# Every order kind runs the same targets; only how a changed target becomes a fill differs
# (market orders are not itemised in the order counts: each one fills, as taker).

# %%
from nzeza.research import backtest
from nzeza.research.orders import OrderPolicy

runs = {}
for kind in ("market", "limit", "post_only"):
    policy = OrderPolicy(kind, 0.0 if kind == "market" else offset, ttl)
    runs[kind] = backtest(strat, bars, costs, 10_000, orders=policy, ledger=ledger)


def fills(result) -> pd.Series:
    """Orders placed, filled (maker / taker), rejected and expired (market orders: all taker)."""
    frame = result.orders
    if frame is None or not len(frame):
        return pd.Series(
            {"placed": None, "filled": None, "maker": 0, "taker": None, "rejected": 0, "expired": 0}
        )
    done = frame[frame["status"] == "filled"]
    return pd.Series(
        {
            "placed": len(frame),
            "filled": len(done),
            "maker": int((done["liquidity"] == "maker").sum()),
            "taker": int((done["liquidity"] == "taker").sum()),
            "rejected": int((frame["status"] == "rejected").sum()),
            "expired": int((frame["status"] == "expired").sum()),
        }
    )


keys = ["total_return", "sharpe", "max_drawdown", "trades", "exposure"]
table = pd.DataFrame(
    {
        k: pd.concat([r.stats.reindex(keys), pd.Series({"fees": r.trades["fees"].sum()}), fills(r)])
        for k, r in runs.items()
    }
)
table.round(3)

# %% [markdown]
# Limit orders trade fewer times (a limit that the market never reaches expires) and pay the
# maker fee when they rest; post-only orders never pay the taker fee or slippage, at the price of
# missed trades. Whether that helps depends on how much of the strategy's edge sits in the
# first bar after a signal: compare the return line, not only the fees.

# %% [markdown]
# ## The strategy as a perpetual
# Leverage 1 without funding is the spot backtest exactly (the same next-open rule and costs);
# then the constructed funding, and higher leverage.

# %%
from decimal import Decimal

from nzeza.domain import Perpetual
from nzeza.domain.perpetual import funding_payment
from nzeza.research.perp import backtest_perp, read_funding

spec = Perpetual(
    venue,
    "BTC/USD:USD",
    "BTC",
    "USD",
    Decimal("1e-18"),
    Decimal("1e-18"),
    max_leverage=Decimal(20),
    maintenance_margin_rate=Decimal(str(maintenance_margin)),
)
if funding_file:
    rates = read_funding(funding_file)
else:  # constructed, not market data: one constant rate at every funding time of the venue
    times = pd.date_range(
        bars.index[0].ceil(f"{spec.funding_interval_hours}h"),
        bars.index[-1],
        freq=f"{spec.funding_interval_hours}h",
    )
    rates = pd.Series(funding_rate, index=times, name="funding_rate")

spot = runs["market"]
flat = backtest_perp(strat, bars, spec, costs, 10_000, leverage=1, ledger=ledger)
print(
    f"perpetual at 1× without funding equals spot: "
    f"{abs(flat.equity.iloc[-1] - spot.equity.iloc[-1]) <= 1e-9 * spot.equity.iloc[-1]}"
)
print(
    f"a hand-check of the rule: long 2 BTC at mark 50,000 across +0.01 % pays "
    f"{-funding_payment(Decimal(2), Decimal(50_000), Decimal('0.0001'))} USD"
)

# %%
perps = {
    lev: backtest_perp(strat, bars, spec, costs, 10_000, leverage=lev, funding=rates, ledger=ledger)
    for lev in leverages
}
rows = [
    "total_return",
    "max_drawdown",
    "funding_paid",
    "funding_received",
    "liquidations",
    "max_margin_usage",
]
pd.DataFrame({f"{lev}×": r.stats.reindex(rows) for lev, r in perps.items()}).round(2)

# %% [markdown]
# A liquidation closes the position at the liquidation price with the taker fee; the trade says
# so (`exit_reason`).

# %%
worst = perps[max(leverages)]
liq = worst.liquidations
print(f"{len(liq)} liquidations at {max(leverages)}×")
liq.head(5).round(2)

# %%
worst.plot(f"{strategy} as a {venue} perpetual at {max(leverages)}× (constructed funding)")

# %%
from nzeza.notebook import record_metrics

ledger.close()
shutil.rmtree(scratch, ignore_errors=True)
metrics = record_metrics(
    metrics_path,
    {
        "strategy": strategy,
        **{f"return_{k}": float(r.stats["total_return"]) for k, r in runs.items()},
        **{f"liquidations_{lev}x": len(r.liquidations) for lev, r in perps.items()},
        "funding_paid_1x": perps[min(leverages)].funding_paid if min(leverages) in perps else None,
    },
)
