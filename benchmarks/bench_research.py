"""Research benchmarks: one SmaCross backtest and a 100-combination sweep, cold and warm, nzeza
against the fastest correct raw vectorbt path, backtesting.py and backtrader; the time to a
first backtest in a fresh process; the windowed parity replay.

Workloads, identical inputs for every tool (the bundled `btc_usd_1h` bars, 33,259 hourly bars,
fee 0.1 % of notional, slippage 0.05 % on price, 10,000 initial cash, long-only, a target
decided at a bar's close fills at the next bar's open):

- single: SmaCross(fast=10, slow=30) → equity curve + trade list (with entry/exit times);
- sweep: every (fast, slow) in {5, 10, …, 50} × {60, 70, …, 150} (100 combinations) → a table of
  per-combination statistics sorted by Sharpe.

Tools:

- nzeza: `nzeza.research.backtest(...)` (then `.equity`, `.trades`) and `nzeza.research.sweep(...)`;
- raw vectorbt, two ways, both on plain arrays with a tz-naive index (a tz-aware index makes
  vectorbt build one Timestamp object per bar every time it wraps an array: that is not raw
  vectorbt's speed): `Portfolio.from_orders` (size_type targetpercent, the call nzeza's kernel
  reproduces) and `Portfolio.from_signals` (entries/exits at the next open, all cash). Targets
  from pandas rolling means (in the sweep each window computed once), `pf.value()`, trades from
  `pf.trades.records` with their times looked up in the index, the sweep's statistics in pandas.
  Both are checked equal to nzeza (trades, final equity, the sweep's best row and Sharpe) before
  timing; the faster of the two is the baseline;
- backtesting.py: `FractionalBacktest` (1e-8 BTC units), next-open fills, `buy()` while
  SMA(fast) > SMA(slow), `position.close()` otherwise; fee + slippage as its per-leg
  `commission` (its `spread` is charged at entry only); the sweep is `Backtest.run` per
  combination in one process (its `optimize()` would fork a pool; every tool gets one core);
- backtrader: `Cerebro(stdstats=False, cheat_on_open=True)`: the signal is taken in `next()` at
  the close, the all-in market order is sized and sent in `next_open()` and fills at that open;
  `setcommission(fee)`, `set_slippage_perc(slippage, slip_out=True)`; the sweep is
  `optstrategy` with `maxcpus=1`.

Cold = a new Python process that times the tool's import plus its first run (bars are read from
a Parquet file first and not counted), best of N processes; nzeza's sweep and raw vectorbt also
with an empty numba cache (`NUMBA_CACHE_DIR` a new directory: every jitted function compiles).
Time to first backtest = a new process timing `import` + `load_sample("btc_usd_1h")` + one
backtest with `.equity` and `.trades` (nzeza's single backtest runs no numba code). Warm =
several runs in one process after a first run (`gc.collect()` before each); nzeza and both raw
vectorbt paths share one new process per workload and alternate (A B C C B A …); best and
median reported, the targets judged on the best of N (other load on the machine only adds).
Windowed parity = `nzeza.engine.parity.compare(..., windowed=True)` (the promotion gate) per
shipped strategy on the last 2,000 bars, bars per second: the first call in the process and the
best of 3 after it, against the 559 bars/s measured before (target ≥ 10×). One more row is
SmaCross written with pandas' `rolling` (as a user may write it, the shipped strategies'
formulation before `nzeza.strategies.indicators`): what the framework's share of the time now
costs a strategy that keeps pandas' overhead per call.

    .venv/bin/python benchmarks/bench_research.py            # full run, writes results/research.*
    .venv/bin/python benchmarks/bench_research.py --quick    # smoke run, prints only

Writes benchmarks/results/research.json and research.md. Compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
FEE, SLIPPAGE, INIT_CASH = 0.001, 0.0005, 10_000.0
FAST, SLOW = 10, 30
GRID = {"fast": list(range(5, 55, 5)), "slow": list(range(60, 160, 10))}
QUICK_GRID = {"fast": [5, 10], "slow": [60, 90, 120, 150, 180]}
TOOLS = ("nzeza", "vbt_orders", "vbt_signals", "backtesting_py", "backtrader")
RAW = ("vbt_orders", "vbt_signals")
LABELS = {
    "nzeza": "nzeza",
    "vbt_orders": "raw vectorbt, from_orders",
    "vbt_signals": "raw vectorbt, from_signals",
    "backtesting_py": "backtesting.py",
    "backtrader": "backtrader",
}
NUMBA_TOOLS = ("nzeza", "vbt_orders", "vbt_signals")
TARGETS = {"single": 1.5, "sweep": 1.2, "first_backtest_s": 2.5}
WINDOWED_BEFORE = 559.0  # bars/s of the windowed parity gate when issue 15 was filed
WINDOWED_TARGET = 10 * WINDOWED_BEFORE
# cross_sectional_momentum's windowed portfolio parity on bitstamp_1d at 92b2879 (best of 3)
PORTFOLIO_WINDOWED_BEFORE = 583.0


def combos(grid: dict[str, list[int]]) -> list[tuple[int, int]]:
    return [(f, s) for f in grid["fast"] for s in grid["slow"]]


# -- the workloads, one function per tool ---------------------------------------------------
# Each `make_*` imports its library (timed as "import") and returns (single, sweep) callables;
# each callable runs the workload once and returns a small dict used to check equivalence.


def make_nzeza(bars: Any, grid: dict) -> tuple[Callable, Callable]:
    import warnings

    from nzeza.domain import Costs
    from nzeza.research import UnregisteredRunWarning, backtest, sweep
    from nzeza.strategies import SmaCross

    costs = Costs(FEE, SLIPPAGE)
    # the engine against its peers: trial registration is measured by bench_registry.py
    warnings.simplefilter("ignore", UnregisteredRunWarning)

    def single() -> dict:
        r = backtest(
            SmaCross(fast=FAST, slow=SLOW), bars, costs=costs, init_cash=INIT_CASH, register=False
        )
        equity, trades = r.equity, r.trades
        closed = int((trades["status"] == "closed").sum())
        return {"final_equity": float(equity.iloc[-1]), "trades": closed}

    def run_sweep() -> dict:
        t = sweep(
            SmaCross,
            bars,
            grid=grid,
            costs=costs,
            init_cash=INIT_CASH,
            progress=False,
            register=False,
        )
        top = t.iloc[0]
        return {
            "combinations": len(t),
            "best": [int(top["fast"]), int(top["slow"])],
            "best_sharpe": float(top["sharpe"]),
        }

    return single, run_sweep


def _raw_vectorbt(bars: Any, grid: dict, signals: bool) -> tuple[Callable, Callable]:
    import math

    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    index = bars.index.tz_localize(None)  # tz-naive: vectorbt wraps it without Timestamps
    c = bars["close"].to_numpy()
    o = bars["open"].to_numpy()
    freq = pd.Timedelta(pd.Series(index).diff().median())

    def shifted(a: Any, k: int) -> Any:
        out = np.zeros_like(a)
        out[k:] = a[:-k]
        return out

    def simulate(close: Any, target: Any) -> Any:
        """target (bars, or bars × k) decided at closes → fills at the next open."""
        price = o if target.ndim == 1 else o[:, None]
        if signals:
            prev, before = shifted(target, 1), shifted(target, 2)
            entries = (prev > 0) & (before <= 0)
            exits = (prev <= 0) & (before > 0)
            return vbt.Portfolio.from_signals(
                close, entries, exits, price=price, fees=FEE, slippage=SLIPPAGE,
                init_cash=INIT_CASH, freq=freq,
            )  # fmt: skip
        changed = np.diff(target, axis=0, prepend=0.0)
        size = np.full(target.shape, np.nan)
        size[1:] = np.where(changed != 0, target, np.nan)[:-1]
        return vbt.Portfolio.from_orders(
            close, size=size, size_type="targetpercent", price=price, fees=FEE,
            slippage=SLIPPAGE, init_cash=INIT_CASH, freq=freq,
        )  # fmt: skip

    def sma(w: int) -> Any:
        return pd.Series(c).rolling(w).mean().to_numpy()

    def single() -> dict:
        fast, slow = sma(FAST), sma(SLOW)
        ready = ~(np.isnan(fast) | np.isnan(slow))
        target = np.where(ready, fast > slow, False).astype(float)
        pf = simulate(pd.Series(c, index=index), target)
        equity, rec = pf.value(), pf.trades.records
        times = index[rec["entry_idx"]], index[rec["exit_idx"]]
        closed = int((rec["status"] == 1).sum())
        assert len(times[0]) == len(rec)
        return {"final_equity": float(equity.iloc[-1]), "trades": closed}

    def run_sweep() -> dict:
        pairs = combos(grid)
        ma = {w: sma(w) for w in {w for p in pairs for w in p}}
        n = len(pairs)
        target = np.empty((len(c), n), order="F")
        for j, (f, s) in enumerate(pairs):
            ready = ~(np.isnan(ma[f]) | np.isnan(ma[s]))
            target[:, j] = np.where(ready, ma[f] > ma[s], False)
        close = pd.DataFrame(np.repeat(c[:, None], n, axis=1), index=index)
        pf = simulate(close, target)
        values = pf.value()
        rets = values.pct_change().iloc[1:]
        sr = (rets.mean() / rets.std(ddof=1).replace(0, np.nan)).fillna(0.0)
        years = max((index[-1] - index[0]) / pd.Timedelta(days=365), 1e-9)
        growth = values.iloc[-1] / values.iloc[0]
        cagr = growth.clip(lower=0) ** (1 / years) - 1
        mdd = (1 - values / values.cummax()).max()
        ppy = pd.Timedelta(days=365) / freq
        table = pd.DataFrame(
            {
                "fast": [p[0] for p in pairs],
                "slow": [p[1] for p in pairs],
                "total_return": (growth - 1).to_numpy(),
                "cagr": cagr.to_numpy(),
                "sharpe": (sr * math.sqrt(ppy)).to_numpy(),
                "sharpe_per_period": sr.to_numpy(),
                "max_drawdown": mdd.to_numpy(),
                "calmar": (cagr / mdd.replace(0, np.nan)).to_numpy(),
                "skew": rets.skew().to_numpy(),
                "kurtosis": (rets.kurt() + 3.0).to_numpy(),
                "n_obs": rets.count().to_numpy(),
                "final_equity": values.iloc[-1].to_numpy(),
                "trades": pf.trades.closed.count().to_numpy(),
                "exposure": (np.vstack([np.zeros((1, n)), target[:-1]]) != 0).mean(axis=0),
            }
        )
        table = table.sort_values("sharpe", ascending=False, kind="stable")
        top = table.iloc[0]
        return {
            "combinations": len(table),
            "best": [int(top["fast"]), int(top["slow"])],
            "best_sharpe": float(top["sharpe"]),
        }

    return single, run_sweep


def make_vbt_orders(bars: Any, grid: dict) -> tuple[Callable, Callable]:
    return _raw_vectorbt(bars, grid, signals=False)


def make_vbt_signals(bars: Any, grid: dict) -> tuple[Callable, Callable]:
    return _raw_vectorbt(bars, grid, signals=True)


def make_backtesting_py(bars: Any, grid: dict) -> tuple[Callable, Callable]:
    import pandas as pd
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    def sma(values: Any, n: int) -> Any:
        return pd.Series(values).rolling(n).mean().to_numpy()

    class SmaCrossBT(Strategy):
        fast = FAST
        slow = SLOW

        def init(self) -> None:
            self.f = self.I(sma, self.data.Close, self.fast)
            self.s = self.I(sma, self.data.Close, self.slow)

        def next(self) -> None:
            up = self.f[-1] > self.s[-1]
            if up and not self.position:
                self.buy()
            elif not up and self.position:
                self.position.close()

    def cost(size: float, price: float) -> float:
        # backtesting.py's `spread` is charged at entry only; slippage is paid on both legs here,
        # so it goes with the fee into the commission (applied at entry and at exit)
        return abs(size) * price * (FEE + SLIPPAGE)

    def backtest_obj() -> Any:
        data = bars.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
        data.index = data.index.tz_localize(None)
        return FractionalBacktest(
            data,
            SmaCrossBT,
            cash=INIT_CASH,
            commission=cost,
            spread=0.0,
            trade_on_close=False,
            fractional_unit=1e-8,
        )

    def single() -> dict:
        stats = backtest_obj().run()
        return {"final_equity": float(stats["Equity Final [$]"]), "trades": int(stats["# Trades"])}

    def run_sweep() -> dict:
        bt = backtest_obj()
        rows = [(f, s, float(bt.run(fast=f, slow=s)["Sharpe Ratio"])) for f, s in combos(grid)]
        best = max(rows, key=lambda r: r[2] if r[2] == r[2] else -1e9)
        return {"combinations": len(rows), "best": [best[0], best[1]], "best_sharpe": best[2]}

    return single, run_sweep


def make_backtrader(bars: Any, grid: dict) -> tuple[Callable, Callable]:
    import backtrader as bt

    class SmaCrossBR(bt.Strategy):
        params = (("fast", FAST), ("slow", SLOW))

        def __init__(self) -> None:
            self.f = bt.ind.SMA(self.data.close, period=self.p.fast)
            self.s = bt.ind.SMA(self.data.close, period=self.p.slow)

        def next(self) -> None:  # at the bar's close: decide
            self.up = self.f[0] > self.s[0]

        def next_open(self) -> None:  # at the next bar's open (cheat_on_open): size and send
            if getattr(self, "up", False) and not self.position:
                price = self.data.open[0] * (1 + SLIPPAGE) * (1 + FEE)
                self.buy(size=self.broker.getcash() / price * (1 - 1e-12))
            elif not getattr(self, "up", False) and self.position:
                self.close()

    class Outcome(bt.Analyzer):
        def start(self) -> None:
            self.closed = 0

        def notify_trade(self, trade: Any) -> None:
            self.closed += trade.isclosed

        def stop(self) -> None:
            self.value = self.strategy.broker.getvalue()

        def get_analysis(self) -> dict:
            return {"final_equity": self.value, "trades": self.closed}

    def cerebro() -> Any:
        c = bt.Cerebro(stdstats=False, maxcpus=1, cheat_on_open=True)
        data = bars.copy()
        data.index = data.index.tz_localize(None)
        c.adddata(bt.feeds.PandasData(dataname=data))
        c.broker.setcash(INIT_CASH)
        c.broker.setcommission(commission=FEE)
        c.broker.set_slippage_perc(SLIPPAGE, slip_out=True)
        c.addanalyzer(Outcome, _name="outcome")
        return c

    def single() -> dict:
        c = cerebro()
        c.addstrategy(SmaCrossBR)
        (strat,) = c.run()
        out = strat.analyzers.outcome.get_analysis()
        return {"final_equity": float(out["final_equity"]), "trades": int(out["trades"])}

    def run_sweep() -> dict:
        c = cerebro()
        c.optstrategy(SmaCrossBR, fast=grid["fast"], slow=grid["slow"])
        runs = [r[0] for r in c.run(maxcpus=1, optreturn=True)]
        rows = [
            (r.params.fast, r.params.slow, r.analyzers.outcome.get_analysis()["final_equity"])
            for r in runs
        ]
        best = max(rows, key=lambda r: r[2])
        return {"combinations": len(rows), "best": [best[0], best[1]], "best_final": best[2]}

    return single, run_sweep


MAKERS = {
    "nzeza": make_nzeza,
    "vbt_orders": make_vbt_orders,
    "vbt_signals": make_vbt_signals,
    "backtesting_py": make_backtesting_py,
    "backtrader": make_backtrader,
}


# -- children: one new process per measurement -----------------------------------------------


def child(tool: str, workload: str, bars_path: str, grid_name: str, warm: int) -> None:
    """Runs in a new process and prints one JSON line (see `spawn`)."""
    if tool == "first":  # the measure: import + load the sample + one backtest
        t0 = time.perf_counter()
        from nzeza.data import load_sample
        from nzeza.domain import Costs
        from nzeza.research import backtest
        from nzeza.strategies import SmaCross

        t1 = time.perf_counter()
        bars = load_sample("btc_usd_1h")
        t2 = time.perf_counter()
        r = backtest(SmaCross(fast=FAST, slow=SLOW), bars, Costs(FEE, SLIPPAGE), INIT_CASH)
        equity, trades = r.equity, r.trades
        t3 = time.perf_counter()
        out = {
            "import_s": t1 - t0,
            "load_s": t2 - t1,
            "backtest_s": t3 - t2,
            "total_s": t3 - t0,
            "check": {
                "final_equity": float(equity.iloc[-1]),
                "trades": int((trades["status"] == "closed").sum()),
            },
            "modules": sorted({m.split(".")[0] for m in sys.modules} & {"vectorbt", "numba"}),
        }
        print("RESULT " + json.dumps(out))
        return
    import pandas as pd

    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py draws a progress bar per run
    warnings.filterwarnings("ignore")
    bars = pd.read_parquet(bars_path)
    grid = QUICK_GRID if grid_name == "quick" else GRID
    if tool == "warm":  # nzeza against both raw vectorbt paths, in this fresh process
        fns = {t: MAKERS[t](bars, grid)[workload == "sweep"] for t in ("nzeza", *RAW)}
        ours = fns["nzeza"]()
        for raw in RAW:
            check_same(ours, fns[raw](), f"{workload} {raw}")
        print("RESULT " + json.dumps(warm_interleaved(fns, warm)))
        return
    if tool == "windowed":
        print("RESULT " + json.dumps(windowed_rates(bars)))
        return
    t0 = time.perf_counter()
    single, run_sweep = MAKERS[tool](bars, grid)
    t1 = time.perf_counter()
    fn = single if workload == "single" else run_sweep
    check = fn()
    t2 = time.perf_counter()
    warm_s = []
    for _ in range(warm):
        gc.collect()
        t = time.perf_counter()
        fn()
        warm_s.append(time.perf_counter() - t)
    out = {"import_s": t1 - t0, "first_s": t2 - t1, "warm_s": warm_s, "check": check}
    out.update(numba_cache_counts())
    print("RESULT " + json.dumps(out))


def windowed_rates(bars: Any) -> dict[str, dict[str, float]]:
    """Bars per second of the windowed parity check per shipped strategy (last 2,000 bars):
    the first call in this process and the best of 3 after it."""
    import pandas as pd

    from nzeza.domain import Costs
    from nzeza.engine.parity import compare
    from nzeza.strategies import REGISTRY, SmaCross

    class PandasSmaCross(SmaCross):
        """SmaCross with pandas' rolling means (equal targets, pandas' overhead per call)."""

        def target(self, bars: pd.DataFrame) -> pd.Series:
            fast = bars["close"].rolling(self.fast).mean()
            slow = bars["close"].rolling(self.slow).mean()
            ready = fast.notna() & slow.notna()
            return (fast > slow).astype(float).where(ready, 0.0)

    from nzeza.data import load_sample
    from nzeza.engine.portfolio_parity import compare_portfolio
    from nzeza.strategies import PORTFOLIO_REGISTRY

    part = bars.iloc[-2000:]
    panel = load_sample("bitstamp_1d")
    costs = Costs(FEE, SLIPPAGE)
    runs: dict[str, Any] = {
        name: lambda make=REGISTRY[name]: compare(make(), part, costs, INIT_CASH, windowed=True)
        for name in sorted(REGISTRY)
    }
    runs["sma_cross (pandas rolling)"] = lambda: compare(
        PandasSmaCross(), part, costs, INIT_CASH, windowed=True
    )
    for name, make in PORTFOLIO_REGISTRY.items():  # the portfolio gate on the bundled panel
        runs[f"{name} (portfolio, bitstamp_1d)"] = lambda make=make: compare_portfolio(
            make(), panel, costs, windowed=True
        )
    out = {}
    for name, run in runs.items():
        n = len(panel) if "(portfolio" in name else len(part)
        times = []
        for _ in range(4):
            t = time.perf_counter()
            report = run()
            times.append(time.perf_counter() - t)
            assert report.ok, str(report)
        row = {"first": n / times[0], "best": n / min(times[1:]), "bars": n}
        if "(portfolio" in name:
            row["before"] = PORTFOLIO_WINDOWED_BEFORE
        out[name] = row
    return out


PANEL_BARS = 1865  # bitstamp_1d


def windowed_verdict(name: str, row: dict) -> str:
    """Target met / NOT met for a shipped single-symbol strategy; '—' for the other rows."""
    if "(" in name:
        return "—"
    return "met" if row["best"] >= WINDOWED_TARGET else "NOT met"


def numba_cache_counts() -> dict:
    """Numba signatures loaded from the on-disk cache vs compiled, in this process."""
    if "numba" not in sys.modules:
        return {}
    from numba.core.dispatcher import Dispatcher

    hits = misses = 0
    seen: set[int] = set()
    for name, mod in list(sys.modules.items()):
        if not name.startswith(("vectorbt", "nzeza")) or mod is None:
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, Dispatcher) and id(obj) not in seen:
                seen.add(id(obj))
                hits += sum(obj._cache_hits.values())
                misses += sum(obj._cache_misses.values())
    if "nzeza.research.kernel" in sys.modules:
        kernel = sys.modules["nzeza.research.kernel"]
        if kernel.compiled.cache_info().currsize:
            obj = kernel.compiled()
            hits += sum(obj._cache_hits.values())
            misses += sum(obj._cache_misses.values())
    return {"numba_loaded_from_cache": hits, "numba_compiled": misses}


def spawn(
    tool: str, workload: str, bars_path: Path, grid_name: str, warm: int, numba_dir: Path | None
) -> dict:
    env = dict(os.environ)
    if numba_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_dir)
    cmd = [sys.executable, __file__, "--child", tool, workload, str(bars_path), grid_name]
    cmd.append(str(warm))
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{tool} {workload} child failed:\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1][len("RESULT ") :])
    if "first_s" in out:
        out["cold_s"] = out["import_s"] + out["first_s"]
    out["process_wall_s"] = wall
    return out


def best_of(runs: list[dict]) -> dict:
    """The cold run with the smallest import + first run (other load on the machine only adds)."""
    best = min(runs, key=lambda r: r["cold_s"])
    return {
        "cold_s": best["cold_s"],
        "import_s": best["import_s"],
        "first_s": best["first_s"],
        "cold_runs_s": [round(r["cold_s"], 3) for r in runs],
        "check": best["check"],
        "numba_compiled": best.get("numba_compiled"),
        "numba_loaded_from_cache": best.get("numba_loaded_from_cache"),
    }


# -- warm, in one process --------------------------------------------------------------------


def warm_interleaved(fns: dict[str, Callable], repeat: int) -> dict[str, list[float]]:
    """`repeat` timed runs of each function, order reversed every round (A B C, C B A, …): run
    times here alternate slow / fast with the allocator's state (large arrays freed and
    re-mapped), and one fixed order would hand one tool every fast slot."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(repeat):
        for name, fn in list(fns.items())[:: 1 if i % 2 == 0 else -1]:
            gc.collect()  # each run starts from the same garbage-collector state
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def summary(times: list[float]) -> dict:
    return {"best_s": min(times), "median_s": statistics.median(times), "runs": len(times)}


def check_same(ours: dict, raw: dict, what: str) -> None:
    for k, v in ours.items():
        w = raw[k]
        same = abs(v - w) <= 1e-9 * max(1.0, abs(v)) if isinstance(v, float) else v == w
        if not same:
            raise SystemExit(f"{what}: nzeza {k}={v!r} but raw vectorbt {k}={w!r}")


# -- report ----------------------------------------------------------------------------------


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("vectorbt", "numba", "pandas", "numpy", "backtesting", "backtrader"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def render(result: dict) -> list[str]:
    v = result["versions"]
    md = [
        "# Research benchmarks",
        "",
        f"`{result['command']}` on Python {v['python']} ({result['machine']}, "
        f"{os.cpu_count()} cores); vectorbt {v['vectorbt']}, numba {v['numba']}, pandas "
        f"{v['pandas']}, backtesting.py {v['backtesting']}, backtrader {v['backtrader']}. "
        f"Bundled `btc_usd_1h` ({result['bars']:,} hourly bars), SmaCross long-only, fee 0.1 %, "
        "slippage 0.05 %, next-open fills. Cold = new process, import + first run (best of "
        f"{result['cold_repeat']}); warm = repeated runs in one process (best / median). "
        f"Load average when the run started: {result['load_average']}. {result['note']}",
        "",
    ]
    for workload, title in (
        ("single", f"Single backtest (SmaCross {FAST}/{SLOW}: equity curve + trade list)"),
        ("sweep", f"Sweep ({result['combinations']} combinations fast × slow, stats per row)"),
    ):
        rows = result[workload]
        base = result["baseline"][workload]
        md += [
            f"**{title}**",
            "",
            "| tool | cold, empty numba cache | cold | warm best | warm median | "
            f"warm vs {LABELS[base]} | result |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        raw_best = rows[base]["warm"]["best_s"]
        for tool in TOOLS:
            r = rows.get(tool)
            if r is None:
                continue
            empty = r.get("cold_empty_cache")
            check = r["check"]
            if workload == "single":
                res = f"{check['trades']} trades, final equity {check['final_equity']:,.2f}"
            elif "best_sharpe" in check:
                res = (
                    f"best {check['best'][0]}/{check['best'][1]}, Sharpe {check['best_sharpe']:.3f}"
                )
            else:
                res = f"best {check['best'][0]}/{check['best'][1]} by final equity"
            if empty:
                empty_txt = fmt_s(empty["cold_s"])
            elif tool == "nzeza" and workload == "single":
                empty_txt = "= cold (no numba)"
            else:
                empty_txt = "not run (--quick)" if tool in NUMBA_TOOLS else "n/a (no numba)"
            md.append(
                f"| {LABELS[tool]} | {empty_txt} | {fmt_s(r['cold']['cold_s'])} | "
                f"{fmt_s(r['warm']['best_s'])} | {fmt_s(r['warm']['median_s'])} | "
                f"{r['warm']['best_s'] / raw_best:.2f}× | {res} |"
            )
        md.append("")
    f = result["first_backtest"]
    md += [
        '**Time to first backtest** (new process: `import` + `load_sample("btc_usd_1h")` + '
        "one backtest with `.equity` and `.trades`; best of "
        f"{len(f['runs_s'])}: {', '.join(fmt_s(x) for x in f['runs_s'])})",
        "",
        "| import | load sample | backtest | total | whole process (interpreter start to exit) "
        "| vectorbt / numba loaded |",
        "|---:|---:|---:|---:|---:|---|",
        f"| {fmt_s(f['import_s'])} | {fmt_s(f['load_s'])} | {fmt_s(f['backtest_s'])} | "
        f"{fmt_s(f['total_s'])} | {fmt_s(f['process_wall_s'])} | "
        f"{', '.join(f['modules']) or 'neither'} |",
        "",
    ]
    t = result["targets"]
    md += [
        "**Targets** (best of N): "
        f"warm single backtest {t['single_ratio']:.2f}× raw vectorbt (≤ {TARGETS['single']}×: "
        f"{'met' if t['single_met'] else 'NOT met'}); 100-combination sweep "
        f"{t['sweep_ratio']:.2f}× raw vectorbt (≤ {TARGETS['sweep']}×: "
        f"{'met' if t['sweep_met'] else 'NOT met'}); time to first backtest "
        f"{fmt_s(t['first_backtest_s'])} (≤ {TARGETS['first_backtest_s']} s: "
        f"{'met' if t['first_met'] else 'NOT met'}).",
        "",
    ]
    if result.get("windowed"):
        rates = result["windowed"]
        md += [
            "**Windowed parity** (`compare(..., windowed=True)`, the promotion gate: the strategy "
            "called on its trailing window at every bar; last 2,000 bars; "
            f"{WINDOWED_BEFORE:,.0f} bars/s before, target ≥ {WINDOWED_TARGET:,.0f})",
            "",
            "| strategy | bars/s, best of 3 | first call | × before | target |",
            "|---|---:|---:|---:|---|",
            *[
                f"| {k} | {v['best']:,.0f} | {v['first']:,.0f} "
                f"| {v['best'] / v.get('before', WINDOWED_BEFORE):.1f}× "
                f"| {windowed_verdict(k, v)} |"
                for k, v in rates.items()
            ],
            "",
            "The pandas-rolling row is not a shipped strategy: it shows what a strategy that keeps "
            "pandas' overhead per call gets. The portfolio row (all "
            f"{PANEL_BARS:,} bars of the panel) is compared with its own rate before, "
            f"{PORTFOLIO_WINDOWED_BEFORE:,.0f} bars/s at 92b2879; it has no target, and its first "
            "call includes `import vectorbt`.",
            "",
        ]
    md += [
        "Cold start, where the time goes (best run): " + "; ".join(result["cold_notes"]) + ".",
        "",
    ]
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 combinations, few repeats")
    ap.add_argument("--cold-repeat", type=int, default=3, help="new processes per cold measure")
    ap.add_argument("--warm-repeat", type=int, default=20, help="warm runs per tool (single)")
    ap.add_argument("--warm-repeat-sweep", type=int, default=10, help="warm runs (sweep)")
    ap.add_argument("--peer-warm-repeat", type=int, default=5, help="warm runs per peer process")
    ap.add_argument("--first-repeat", type=int, default=5, help="time-to-first-backtest runs")
    ap.add_argument("--no-windowed", action="store_true", help="skip the windowed parity rates")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--render", action="store_true", help="rewrite research.md from the json")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.render:
        result = json.loads((RESULTS / "research.json").read_text())
        (RESULTS / "research.md").write_text("\n".join(render(result)))
        return
    if args.child:
        tool, workload, bars_path, grid_name, warm = args.child
        child(tool, workload, bars_path, grid_name, int(warm))
        return
    if args.quick:
        args.cold_repeat, args.warm_repeat, args.warm_repeat_sweep, args.no_write = 1, 4, 2, True
        args.peer_warm_repeat, args.first_repeat = 1, 2
    grid_name = "quick" if args.quick else "full"
    grid = QUICK_GRID if args.quick else GRID

    import pandas as pd

    from nzeza.data import load_sample

    warnings.filterwarnings("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")
    bars = load_sample("btc_usd_1h")
    result: dict[str, Any] = {
        "command": "python benchmarks/bench_research.py" + (" --quick" if args.quick else ""),
        "machine": platform.machine(),
        "versions": versions(),
        "bars": len(bars),
        "combinations": len(combos(grid)),
        "cold_repeat": args.cold_repeat,
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "note": (
            "Taken on a shared 2-core VM (the load average above says how busy it was): "
            "absolute times are noisy; ratios come from interleaved runs in one process."
        ),
        "single": {},
        "sweep": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-research-") as tmp:
        tmpdir = Path(tmp)
        # the children's backtests register trials (time to first backtest includes it): into a
        # ledger of this run, never the user's configured one, whose trial counts they would raise
        os.environ["NZEZA_LEDGER_URL"] = f"sqlite:///{tmpdir / 'ledger.sqlite'}"
        bars_path = tmpdir / "bars.parquet"
        pd.DataFrame(bars).to_parquet(bars_path)

        # 1. cold: empty numba cache where numba runs, then the installed cache, then peers
        for workload in ("single", "sweep"):
            for tool in TOOLS:
                print(f"cold {workload:6s} {LABELS[tool]} …", flush=True)
                entry: dict[str, Any] = {}
                uses_numba = tool in RAW or (tool == "nzeza" and workload == "sweep")
                if uses_numba and not args.quick:
                    numba_dir = tmpdir / f"numba-{tool}-{workload}"
                    first = spawn(tool, workload, bars_path, grid_name, 0, numba_dir)
                    entry["cold_empty_cache"] = best_of([first])
                peer_sweep = tool not in NUMBA_TOOLS and workload == "sweep"
                repeat = 1 if peer_sweep else args.cold_repeat
                warm_in_child = 0
                if tool not in NUMBA_TOOLS:
                    warm_in_child = 1 if peer_sweep else args.peer_warm_repeat
                runs = [
                    spawn(tool, workload, bars_path, grid_name, warm_in_child, None)
                    for _ in range(repeat)
                ]
                entry["cold"] = best_of(runs)
                entry["check"] = entry["cold"]["check"]
                if warm_in_child:
                    entry["warm"] = summary([t for r in runs for t in r["warm_s"]])
                result[workload][tool] = entry

        # 2. time to first backtest, the definition
        print("time to first backtest …", flush=True)
        firsts = [
            spawn("first", "single", bars_path, grid_name, 0, None)
            for _ in range(max(args.first_repeat, 1))
        ]
        best = min(firsts, key=lambda r: r["total_s"])
        result["first_backtest"] = {**best, "runs_s": [round(r["total_s"], 3) for r in firsts]}

        # 3. warm: nzeza and both raw vectorbt paths alternating in one new process per workload
        print("warm nzeza vs raw vectorbt …", flush=True)
        warm = {
            "single": spawn("warm", "single", bars_path, grid_name, args.warm_repeat, None),
            "sweep": spawn("warm", "sweep", bars_path, grid_name, args.warm_repeat_sweep, None),
        }
        if not args.no_windowed:
            print("windowed parity …", flush=True)
            rates = spawn("windowed", "single", bars_path, grid_name, 0, None)
            result["windowed"] = {k: v for k, v in rates.items() if k != "process_wall_s"}
    result["baseline"] = {}
    for workload, times in warm.items():
        for tool in ("nzeza", *RAW):
            result[workload][tool]["warm"] = summary(times[tool])
        result["baseline"][workload] = min(RAW, key=lambda t: result[workload][t]["warm"]["best_s"])

    def ratio(workload: str) -> float:
        rows = result[workload]
        base = rows[result["baseline"][workload]]["warm"]["best_s"]
        return rows["nzeza"]["warm"]["best_s"] / base

    first_s = result["first_backtest"]["total_s"]
    result["targets"] = {
        "single_ratio": round(ratio("single"), 3),
        "sweep_ratio": round(ratio("sweep"), 3),
        "first_backtest_s": first_s,
        "single_met": ratio("single") <= TARGETS["single"],
        "sweep_met": ratio("sweep") <= TARGETS["sweep"],
        "first_met": first_s <= TARGETS["first_backtest_s"],
    }
    if result.get("windowed"):
        shipped = {k: v for k, v in result["windowed"].items() if "(" not in k}
        slowest = min(shipped, key=lambda k: shipped[k]["best"])
        result["targets"]["windowed_slowest"] = slowest
        result["targets"]["windowed_ratio"] = round(shipped[slowest]["best"] / WINDOWED_BEFORE, 2)
        result["targets"]["windowed_met"] = shipped[slowest]["best"] >= WINDOWED_TARGET
    s = result["single"]
    result["cold_notes"] = [
        f"`import vectorbt` {fmt_s(s['vbt_orders']['cold']['import_s'])}",
        f"nzeza's own imports {fmt_s(s['nzeza']['cold']['import_s'])} after pandas (which every "
        "child imports first to read the bars; the whole path from a bare interpreter is the "
        "time-to-first-backtest table); a single backtest imports neither vectorbt, numba nor "
        "scipy: the kernel runs as Python over the bars where an order is due",
    ]
    sweep_rows = result["sweep"]["nzeza"]
    if "cold_empty_cache" in sweep_rows:
        empty, cached = sweep_rows["cold_empty_cache"], sweep_rows["cold"]
        result["cold_notes"].append(
            f"a sweep compiles nzeza's kernel once into numba's cache: first sweep with an empty "
            f"cache {fmt_s(empty['cold_s'])} ({empty['numba_compiled']} compiled), with the "
            f"cache filled {fmt_s(cached['cold_s'])} ({cached['numba_loaded_from_cache']} "
            "loaded, 0 compiled)"
        )
    md = render(result)
    text = "\n".join(md)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "research.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "research.md").write_text(text)


if __name__ == "__main__":
    main()
