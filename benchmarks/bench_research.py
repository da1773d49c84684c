"""Research benchmarks: one SmaCross backtest and a 100-combination sweep, cold and warm, nzeza
against raw vectorbt (the same call on the same inputs), backtesting.py and backtrader.

Workloads, identical inputs for every tool (the bundled `btc_usd_1h` bars, 33,259 hourly bars,
fee 0.1 % of notional, slippage 0.05 % on price, 10,000 initial cash, long-only, a target
decided at a bar's close fills at the next bar's open):

- single: SmaCross(fast=10, slow=30) → equity curve + trade list;
- sweep: every (fast, slow) in {5, 10, …, 50} × {60, 70, …, 150} (100 combinations) → a table of
  per-combination statistics sorted by Sharpe.

Tools:

- nzeza: `nzeza.research.backtest(...)` (then `.equity`, `.trades`) and `nzeza.research.sweep(...)`;
- raw vectorbt: the same `vbt.Portfolio.from_orders` call nzeza makes (same arrays, same
  keyword arguments), written directly: targets from pandas rolling means (each window computed
  once in the sweep), `pf.value()`, `pf.trades.records_readable` / `pf.trades.closed.count()` and
  the same statistics columns in pandas. Its results are checked equal to nzeza's before timing;
- backtesting.py: `FractionalBacktest` (1e-8 BTC units), next-open fills, `buy()` while
  SMA(fast) > SMA(slow), `position.close()` otherwise; fee + slippage as its per-leg
  `commission` (its `spread` is charged at entry only); the sweep is `Backtest.run` per
  combination in one process (its `optimize()` would fork a pool; every tool gets one core);
- backtrader: `Cerebro(stdstats=False, cheat_on_open=True)`: the signal is taken in `next()` at
  the close, the all-in market order is sized and sent in `next_open()` and fills at that open;
  `setcommission(fee)`, `set_slippage_perc(slippage, slip_out=True)`; the sweep is
  `optstrategy` with `maxcpus=1`.

All four agree on the single backtest (same closed trades, final equity within 1e-6).

Cold = a new Python process that times the tool's import plus its first run (bars are read from
a Parquet file first and not counted). nzeza and raw vectorbt are measured with an empty numba
cache (`NUMBA_CACHE_DIR` pointing to a new directory: every jitted vectorbt function compiles)
and with a warm one (the same directory, filled by that first process). Warm = several runs in
one process after a first run (`gc.collect()` before each); nzeza and raw vectorbt share one new
process per workload and alternate in A B B A order; best and median reported, the overhead
target judged on the best of N.

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
TOOLS = ("nzeza", "raw_vectorbt", "backtesting_py", "backtrader")
LABELS = {
    "nzeza": "nzeza",
    "raw_vectorbt": "raw vectorbt",
    "backtesting_py": "backtesting.py",
    "backtrader": "backtrader",
}
NUMBA_TOOLS = ("nzeza", "raw_vectorbt")


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


def make_raw_vectorbt(bars: Any, grid: dict) -> tuple[Callable, Callable]:
    import math

    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    def from_orders(close: Any, size: Any, price: Any) -> Any:
        freq = pd.Timedelta(pd.Series(bars.index).diff().median())
        return vbt.Portfolio.from_orders(
            close,
            size=size,
            size_type="targetpercent",
            price=price,
            fees=FEE,
            slippage=SLIPPAGE,
            init_cash=INIT_CASH,
            freq=freq,
        )

    def single() -> dict:
        close = bars["close"]
        fast, slow = close.rolling(FAST).mean(), close.rolling(SLOW).mean()
        target = (fast > slow).astype(float).where(fast.notna() & slow.notna(), 0.0)
        changed = target.diff()
        changed.iloc[0] = target.iloc[0]
        size = target.where(changed != 0).shift(1)
        pf = from_orders(close, size, bars["open"])
        equity, trades = pf.value(), pf.trades.records_readable
        closed = int((trades["Status"] == "Closed").sum())
        return {"final_equity": float(equity.iloc[-1]), "trades": closed}

    def run_sweep() -> dict:
        pairs = combos(grid)
        c = bars["close"]
        ma = {w: c.rolling(w).mean().to_numpy() for w in {w for p in pairs for w in p}}
        # column-major, as pandas hands nzeza's DataFrames to vectorbt (which loops by column)
        target = np.empty((len(c), len(pairs)), order="F")
        for j, (f, s) in enumerate(pairs):
            ready = ~(np.isnan(ma[f]) | np.isnan(ma[s]))
            target[:, j] = np.where(ready, ma[f] > ma[s], False)
        changed = np.diff(target, axis=0, prepend=0.0)
        size = np.full_like(target, np.nan, order="F")
        size[1:] = np.where(changed != 0, target, np.nan)[:-1]
        idx, cols = bars.index, pd.RangeIndex(len(pairs))
        n = len(pairs)
        close = pd.DataFrame(np.repeat(c.to_numpy()[:, None], n, axis=1), index=idx, columns=cols)
        open_ = bars["open"].to_numpy()
        price = pd.DataFrame(np.repeat(open_[:, None], n, axis=1), index=idx, columns=cols)
        pf = from_orders(close, pd.DataFrame(size, index=idx, columns=cols), price)
        values = pf.value()
        rets = values.pct_change().iloc[1:]
        sr = (rets.mean() / rets.std(ddof=1).replace(0, np.nan)).fillna(0.0)
        years = max((idx[-1] - idx[0]) / pd.Timedelta(days=365), 1e-9)
        growth = values.iloc[-1] / values.iloc[0]
        cagr = growth.clip(lower=0) ** (1 / years) - 1
        mdd = (1 - values / values.cummax()).max()
        ppy = pd.Timedelta(days=365) / pd.Timedelta(pd.Series(idx).diff().median())
        table = pd.DataFrame(
            {
                "fast": [p[0] for p in pairs],
                "slow": [p[1] for p in pairs],
                "total_return": growth - 1,
                "cagr": cagr,
                "sharpe": sr * math.sqrt(ppy),
                "sharpe_per_period": sr,
                "max_drawdown": mdd,
                "calmar": cagr / mdd.replace(0, np.nan),
                "skew": rets.skew(),
                "kurtosis": rets.kurt() + 3.0,
                "n_obs": rets.count(),
                "final_equity": values.iloc[-1],
                "trades": pf.trades.closed.count(),
                "exposure": (np.vstack([np.zeros((1, n)), target[:-1]]) != 0).mean(axis=0),
            }
        )
        table = table.sort_values("sharpe", ascending=False).reset_index(drop=True)
        top = table.iloc[0]
        return {
            "combinations": len(table),
            "best": [int(top["fast"]), int(top["slow"])],
            "best_sharpe": float(top["sharpe"]),
        }

    return single, run_sweep


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
    "raw_vectorbt": make_raw_vectorbt,
    "backtesting_py": make_backtesting_py,
    "backtrader": make_backtrader,
}


# -- cold: one new process per measurement ---------------------------------------------------


def child(tool: str, workload: str, bars_path: str, grid_name: str, warm: int) -> None:
    """Runs in a new process: import + first run (cold), then `warm` more runs; prints JSON."""
    import pandas as pd

    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py draws a progress bar per run
    warnings.filterwarnings("ignore")
    bars = pd.read_parquet(bars_path)
    grid = QUICK_GRID if grid_name == "quick" else GRID
    if tool == "warm":  # nzeza against raw vectorbt, after one run each, in this fresh process
        ours = make_nzeza(bars, grid)[workload == "sweep"]
        raw = make_raw_vectorbt(bars, grid)[workload == "sweep"]
        check_same(ours(), raw(), workload)
        print("RESULT " + json.dumps(warm_interleaved({"nzeza": ours, "raw": raw}, warm)))
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


def numba_cache_counts() -> dict:
    """Numba signatures loaded from the on-disk cache vs compiled, in this process."""
    if "numba" not in sys.modules:
        return {}
    from numba.core.dispatcher import Dispatcher

    hits = misses = 0
    for name, mod in list(sys.modules.items()):
        if not name.startswith("vectorbt") or mod is None:
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, Dispatcher):
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
    out["cold_s"] = out["import_s"] + out["first_s"]
    out["process_wall_s"] = wall
    return out


def spawn_warm(workload: str, bars_path: Path, grid_name: str, repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "warm", workload, str(bars_path), grid_name]
    proc = subprocess.run([*cmd, str(repeat)], capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"warm {workload} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


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


# -- warm, in this process -------------------------------------------------------------------


def warm_interleaved(fns: dict[str, Callable], repeat: int) -> dict[str, list[float]]:
    """`repeat` timed runs of each function, in A B B A order: run times here alternate slow /
    fast with the allocator's state (large arrays freed and re-mapped), and a plain A B A B order
    would hand one tool every fast slot."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(repeat):
        for name, fn in list(fns.items())[:: 1 if i % 2 == 0 else -1]:
            gc.collect()  # each run starts from the same garbage-collector state
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def summary(times: list[float]) -> dict:
    return {
        "best_s": min(times),
        "median_s": statistics.median(times),
        "runs": len(times),
    }


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
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


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
    n_combos = result["combinations"]
    md = [
        "# Research benchmarks",
        "",
        f"`{result['command']}` on Python {v['python']} ({result['machine']}, "
        f"{os.cpu_count()} cores); vectorbt {v['vectorbt']}, numba {v['numba']}, pandas "
        f"{v['pandas']}, backtesting.py {v['backtesting']}, backtrader {v['backtrader']}. "
        f"Bundled `btc_usd_1h` ({result['bars']:,} hourly bars), SmaCross long-only, fee 0.1 %, "
        "slippage 0.05 %, next-open fills. Cold = new process, import + first run (best of "
        f"{result['cold_repeat']}); warm = repeated runs in one process (best / median).",
        "",
    ]
    for workload, title in (
        ("single", f"Single backtest (SmaCross {FAST}/{SLOW}: equity curve + trade list)"),
        ("sweep", f"Sweep ({n_combos} combinations fast × slow, stats per combination)"),
    ):
        rows = result[workload]
        md += [
            f"**{title}**",
            "",
            "| tool | cold, empty numba cache | cold | warm best | warm median | "
            "warm vs raw vectorbt | result |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        raw_best = rows["raw_vectorbt"]["warm"]["best_s"]
        for tool in TOOLS:
            r = rows.get(tool)
            if r is None:
                continue
            empty = r.get("cold_empty_cache")
            ratio = r["warm"]["best_s"] / raw_best
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
            else:
                empty_txt = "not run (--quick)" if tool in NUMBA_TOOLS else "n/a (no numba)"
            md.append(
                f"| {LABELS[tool]} | {empty_txt} | "
                f"{fmt_s(r['cold']['cold_s'])} | {fmt_s(r['warm']['best_s'])} | "
                f"{fmt_s(r['warm']['median_s'])} | {ratio:.2f}× | {res} |"
            )
        md.append("")
    ov = result["overhead"]
    md += [
        f"nzeza's warm overhead over raw vectorbt (best of {ov['runs_single']} / "
        f"{ov['runs_sweep']} runs, alternating A B B A): single {ov['single_best_pct']:+.1f} % "
        f"(median {ov['single_median_pct']:+.1f} %), sweep {ov['sweep_best_pct']:+.1f} % "
        f"(median {ov['sweep_median_pct']:+.1f} %); target ≤ +10 % (best of N): "
        f"{'met' if ov['target_met'] else 'NOT met'}.",
        "",
        "Cold start, where the time goes (best run): "
        + "; ".join(result["cold_notes"])
        + ". vectorbt's jitted functions are `@njit(cache=True)`: numba writes compiled code to "
        "`__pycache__` beside vectorbt's sources (or to `NUMBA_CACHE_DIR`), so only the first "
        "process after installing pays the compile column; every later process loads it.",
        "",
    ]
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 combinations, few repeats")
    ap.add_argument("--cold-repeat", type=int, default=3, help="new processes per cold measure")
    ap.add_argument("--warm-repeat", type=int, default=20, help="warm runs per tool (single)")
    ap.add_argument("--warm-repeat-sweep", type=int, default=16, help="warm runs (sweep)")
    ap.add_argument("--peer-warm-repeat", type=int, default=5, help="warm runs per peer process")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        tool, workload, bars_path, grid_name, warm = args.child
        child(tool, workload, bars_path, grid_name, int(warm))
        return
    if args.quick:
        args.cold_repeat, args.warm_repeat, args.warm_repeat_sweep, args.no_write = 1, 4, 4, True
        args.peer_warm_repeat = 2
    grid_name = "quick" if args.quick else "full"
    grid = QUICK_GRID if args.quick else GRID
    warm_sweep = args.warm_repeat_sweep

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
        "single": {},
        "sweep": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-research-") as tmp:
        tmpdir = Path(tmp)
        bars_path = tmpdir / "bars.parquet"
        pd.DataFrame(bars).to_parquet(bars_path)

        # 1. cold: empty numba cache (nzeza and raw vectorbt only), then warm cache, then peers
        for workload in ("single", "sweep"):
            for tool in TOOLS:
                print(f"cold {workload:6s} {LABELS[tool]} …", flush=True)
                entry: dict[str, Any] = {}
                numba_dir = None  # quick: the numba cache beside vectorbt's sources, as installed
                if tool in NUMBA_TOOLS and not args.quick:
                    numba_dir = tmpdir / f"numba-{tool}-{workload}"
                    first = spawn(tool, workload, bars_path, grid_name, 0, numba_dir)
                    entry["cold_empty_cache"] = best_of([first])
                peer_sweep = tool not in NUMBA_TOOLS and workload == "sweep"
                repeat = 1 if peer_sweep else args.cold_repeat
                warm_in_child = 0
                if tool not in NUMBA_TOOLS:
                    warm_in_child = 1 if peer_sweep else args.peer_warm_repeat
                runs = [
                    spawn(tool, workload, bars_path, grid_name, warm_in_child, numba_dir)
                    for _ in range(repeat)
                ]
                entry["cold"] = best_of(runs)
                entry["check"] = entry["cold"]["check"]
                if warm_in_child:
                    entry["warm"] = summary([t for r in runs for t in r["warm_s"]])
                result[workload][tool] = entry

        # 2. warm: nzeza and raw vectorbt alternating in one new process per workload
        print("warm nzeza vs raw vectorbt …", flush=True)
        single_t = spawn_warm("single", bars_path, grid_name, args.warm_repeat)
        sweep_t = spawn_warm("sweep", bars_path, grid_name, warm_sweep)
    for workload, times in (("single", single_t), ("sweep", sweep_t)):
        result[workload]["nzeza"]["warm"] = summary(times["nzeza"])
        result[workload]["raw_vectorbt"]["warm"] = summary(times["raw"])

    def pct(workload: str, stat: str) -> float:
        rows = result[workload]
        return 100 * (rows["nzeza"]["warm"][stat] / rows["raw_vectorbt"]["warm"][stat] - 1)

    result["overhead"] = {
        "single_best_pct": round(pct("single", "best_s"), 2),
        "single_median_pct": round(pct("single", "median_s"), 2),
        "sweep_best_pct": round(pct("sweep", "best_s"), 2),
        "sweep_median_pct": round(pct("sweep", "median_s"), 2),
        "runs_single": args.warm_repeat,
        "runs_sweep": warm_sweep,
    }
    result["overhead"]["target_met"] = (
        result["overhead"]["single_best_pct"] <= 10 and result["overhead"]["sweep_best_pct"] <= 10
    )
    s = result["single"]
    result["cold_notes"] = [
        f"`import vectorbt` {fmt_s(s['raw_vectorbt']['cold']['import_s'])}",
        f"nzeza's own imports {fmt_s(s['nzeza']['cold']['import_s'])} (vectorbt is imported "
        "at the first backtest)",
    ]
    if "cold_empty_cache" in s["nzeza"]:
        empty, warm = s["nzeza"]["cold_empty_cache"], s["nzeza"]["cold"]
        compile_s = empty["cold_s"] - warm["cold_s"]
        result["cold_notes"].append(
            f"numba compiling on an empty cache adds {fmt_s(compile_s)} to nzeza's first backtest "
            f"({empty['numba_compiled']} vectorbt functions compiled; with the cache filled, "
            f"{warm['numba_compiled']} compiled and {warm['numba_loaded_from_cache']} loaded)"
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
