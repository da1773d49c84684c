"""Engine benchmarks: full-engine replay throughput against backtesting.py, backtrader and
nautilus_trader; paper-mode decision-to-order latency; sustained and burst order load; a soak.

1. Replay throughput (bars/s): SmaCross(fast=10, slow=30), long-only, fee 0.1 %, slippage
   0.05 %, next-open fills, 10,000 cash, on the bundled `btc_usd_1h` bars (33,259 hourly bars),
   timed end to end from the DataFrame to the result, best of `--repeat`, one process each:
   - nzeza: `nzeza.engine.replay(..., ledger=Ledger("sqlite:///…"))` (a new SQLite file per run:
     every intent, order, fill, position and balance journaled; equity every 24 bars), with the
     targets computed once on the history (as backtesting.py does its indicators); also without
     a ledger, and `windowed=True` (the strategy called at every bar on its 30-bar trailing
     window, exactly as a live session runs);
   - backtesting.py and backtrader: the SmaCross of `bench_research.py` (same fills, same fees,
     final equity equal to nzeza's to 1e-6);
   - nautilus_trader: `peer_nautilus.py` in its own venv (`benchmarks/.venv-nautilus`, created
     here on first use: nautilus_trader pins pandas < 3), bars read from the same Parquet file;
     fills at the next open through a quote at each open (see that file).
2. Paper-mode decision-to-order latency, P50/P99, over the loopback websocket replay feed
   (`engine_load.decision_latency`): decision → order sent (sized, risk-checked, journaled,
   handed to the venue adapter: the target), → acknowledged by the paper venue (which
   persists the order in its own SQLite first), → fills booked.
3. 1,000 orders/s sustained for `--sustain-seconds` and a 10,000-order burst through risk +
   durable paper venue + SQLite ledger: rate, P50/P99 per order, lost orders
   (`engine_load.orders`).
4. Soak: at least 500,000 bars through the full engine with a ledger. The bars are the real
   33,259 hourly bars tiled end to end (`--soak-copies`, 16 → 532,144 bars): each copy's prices
   are multiplied by one factor so that its first open equals the previous copy's last close
   (returns, ranges and volumes are the real ones; the price level compounds, ×4.96 per copy),
   and timestamps continue hourly. RSS (VmRSS from /proc/self/status) is sampled every 24,000
   bars; growth = last sample in the loop over the first sample after the warm-up (10 % of the
   bars).

    .venv/bin/python benchmarks/bench_engine.py            # full run (~6 min), writes results
    .venv/bin/python benchmarks/bench_engine.py --quick    # smoke run (~2 min), prints only

Writes benchmarks/results/engine.json and engine.md. Compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: no progress bars in timings
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

import engine_load
from bench_research import (
    FAST,
    FEE,
    INIT_CASH,
    SLIPPAGE,
    SLOW,
    make_backtesting_py,
    make_backtrader,
)

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.store import Ledger
from nzeza.strategies import SmaCross

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NAUTILUS_VENV = HERE / ".venv-nautilus"
NAUTILUS_REQ = "nautilus_trader==1.221.0"  # the version peer_nautilus.py is written against
COSTS = Costs(FEE, SLIPPAGE)


# -- 1. throughput ---------------------------------------------------------------------------


def time_nzeza(bars: pd.DataFrame, tmp: Path, *, ledger: bool, windowed: bool) -> dict:
    """One end-to-end replay (a new SQLite ledger file per run when `ledger`)."""
    gc.collect()
    t0 = time.perf_counter()
    led = Ledger(f"sqlite:///{tmp / f'replay-{time.perf_counter_ns()}.sqlite'}") if ledger else None
    res = replay(
        SmaCross(fast=FAST, slow=SLOW), bars, COSTS, INIT_CASH, ledger=led, windowed=windowed
    )
    if led is not None:
        led.close()
    seconds = time.perf_counter() - t0
    closed = int((res.trades["status"] == "closed").sum())
    return {
        "seconds": seconds,
        "fills": len(res.fills),
        "trades": closed,
        "final_equity": res.final_equity,
    }


def best_run(fn: Any, repeat: int) -> dict:
    runs = [fn() for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "runs_s": [round(r["seconds"], 3) for r in runs]}


def time_peer(make: Any, bars: pd.DataFrame, repeat: int) -> dict:
    single, _ = make(bars, {})
    runs = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        check = single()
        runs.append({"seconds": time.perf_counter() - t0, **check})
    best = min(runs, key=lambda r: r["seconds"])
    return {
        "seconds": best["seconds"],
        "fills": None,
        "trades": best["trades"],
        "final_equity": best["final_equity"],
        "runs_s": [round(r["seconds"], 3) for r in runs],
    }


def ensure_nautilus_venv() -> tuple[Path | None, str]:
    """The nautilus venv's python (created and installed on first use), or (None, why not)."""
    py = NAUTILUS_VENV / "bin" / "python"
    probe = [str(py), "-c", "import nautilus_trader, pyarrow; print(nautilus_trader.__version__)"]
    if py.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return py, ""
    base = shutil.which("python3.11") or sys.executable
    print(f"creating {NAUTILUS_VENV} ({base} -m venv; pip install {NAUTILUS_REQ}) …", flush=True)
    steps = [
        [base, "-m", "venv", str(NAUTILUS_VENV)],
        [str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(py), "-m", "pip", "install", "--quiet", NAUTILUS_REQ, "pyarrow"],
    ]
    for cmd in steps:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"`{' '.join(cmd[1:4])}` failed: {exc}"
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(cmd[1:])}` exited {proc.returncode}: {' / '.join(tail)}"
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        return None, "nautilus_trader installed but does not import"
    return py, ""


def time_nautilus(bars_path: Path, repeat: int) -> dict:
    py, why = ensure_nautilus_venv()
    if py is None:
        return {"error": why}
    cmd = [str(py), str(HERE / "peer_nautilus.py"), str(bars_path), "--repeat", str(repeat)]
    cmd += ["--fast", str(FAST), "--slow", str(SLOW), "--fee", str(FEE)]
    cmd += ["--slippage", str(SLIPPAGE), "--cash", str(INIT_CASH)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": f"peer_nautilus.py exited {proc.returncode}: {' / '.join(tail)}"}
    out = json.loads(lines[-1][len("RESULT ") :])
    return {
        "seconds": out["total_s"],
        "run_loop_s": out["run_s"],
        "fills": out["fills"],
        "trades": out["closed_trades"],
        "final_equity": out["final_equity"],
        "runs_s": [round(x, 3) for x in out["runs_total_s"]],
        "version": out["version"],
    }


def throughput(bars: pd.DataFrame, tmp: Path, repeat: int, windowed_bars: int) -> dict:
    bars_path = tmp / "bars.parquet"
    bars.to_parquet(bars_path)
    n = len(bars)
    rows: dict[str, dict] = {}
    print("throughput: nzeza …", flush=True)
    time_nzeza(bars.iloc[:2000], tmp, ledger=True, windowed=False)  # imports, SQLAlchemy caches
    rows["nzeza"] = best_run(lambda: time_nzeza(bars, tmp, ledger=True, windowed=False), repeat) | {
        "bars": n
    }
    rows["nzeza_no_ledger"] = best_run(
        lambda: time_nzeza(bars, tmp, ledger=False, windowed=False), repeat
    ) | {"bars": n}
    wbars = bars.iloc[:windowed_bars]
    rows["nzeza_windowed"] = time_nzeza(wbars, tmp, ledger=True, windowed=True) | {
        "bars": len(wbars)
    }
    print("throughput: backtesting.py …", flush=True)
    rows["backtesting_py"] = time_peer(make_backtesting_py, bars, repeat) | {"bars": n}
    print("throughput: backtrader …", flush=True)
    rows["backtrader"] = time_peer(make_backtrader, bars, repeat) | {"bars": n}
    print("throughput: nautilus_trader …", flush=True)
    rows["nautilus_trader"] = time_nautilus(bars_path, repeat) | {"bars": n}
    for r in rows.values():
        if "seconds" in r:
            r["bars_per_s"] = r["bars"] / r["seconds"]
    return rows


# -- 4. soak ---------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (kB) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    return _status_mb("VmRSS:")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM:")


class SampledLedger(Ledger):
    """The SQLite ledger, plus an RSS sample every `every` calls of `record_equity` (replay
    writes an equity snapshot every 24 bars); nothing else changes."""

    def __init__(self, url: str, every: int) -> None:
        super().__init__(url)
        self.every, self.marks, self.samples = every, 0, []

    def record_equity(self, session_id: str, ts: int, *args: Any) -> None:
        super().record_equity(session_id, ts, *args)
        self.marks += 1
        if self.marks % self.every == 0:
            self.samples.append((self.marks * 24, rss_mb()))


def tiled_bars(bars: pd.DataFrame, copies: int) -> pd.DataFrame:
    """`copies` copies of `bars` end to end, each rescaled to open at the previous close."""
    prices = bars[["open", "high", "low", "close"]].to_numpy()
    growth = bars["close"].iloc[-1] / bars["open"].iloc[0]
    scales = growth ** np.arange(copies)
    data = np.concatenate([prices * s for s in scales])
    volume = np.tile(bars["volume"].to_numpy(), copies)
    index = pd.date_range(bars.index[0], periods=len(data), freq="1h", name="time")
    out = pd.DataFrame(data, index=index, columns=["open", "high", "low", "close"])
    out["volume"] = volume
    return out


def soak(bars: pd.DataFrame, copies: int, tmp: Path) -> dict:
    tiled = tiled_bars(bars, copies)
    gaps = np.abs(tiled["open"].to_numpy()[1:] / tiled["close"].to_numpy()[:-1] - 1)
    joins = gaps[len(bars) - 1 :: len(bars)]
    n = len(tiled)
    ledger = SampledLedger(f"sqlite:///{tmp / 'soak.sqlite'}", every=1000)
    gc.collect()
    rss_start = rss_mb()
    t0 = time.perf_counter()
    res = replay(SmaCross(fast=FAST, slow=SLOW), tiled, COSTS, INIT_CASH, ledger=ledger)
    seconds = time.perf_counter() - t0
    rss_after = rss_mb()
    ledger_fills = len(ledger.fills(res.session_id))
    ledger.close()
    warmup = n // 10
    after_warm = [(b, r) for b, r in ledger.samples if b >= warmup]
    warm_bar, warm_rss = after_warm[0]
    end_bar, end_rss = after_warm[-1]
    return {
        "bars": n,
        "copies": copies,
        "max_price_gap_at_joins": float(joins.max()) if len(joins) else 0.0,
        "median_price_gap_within_copy": float(np.median(gaps)),
        "last_close": float(tiled["close"].iloc[-1]),
        "seconds": seconds,
        "bars_per_s": n / seconds,
        "fills": len(res.fills),
        "ledger_fills": ledger_fills,
        "final_equity": res.final_equity,
        "rss_start_mb": rss_start,
        "warmup_bars": warmup,
        "rss_after_warmup_mb": warm_rss,
        "rss_after_warmup_at_bar": warm_bar,
        "rss_end_mb": end_rss,
        "rss_end_at_bar": end_bar,
        "rss_after_replay_returned_mb": rss_after,
        "peak_rss_mb": peak_rss_mb(),
        "growth_pct": 100 * (end_rss / warm_rss - 1),
        "samples": [[b, round(r, 1)] for b, r in ledger.samples],
    }


# -- report ----------------------------------------------------------------------------------


LABELS = {
    "nzeza": "**nzeza replay, SQLite ledger**",
    "nzeza_no_ledger": "nzeza replay, no ledger",
    "nzeza_windowed": "nzeza replay, SQLite ledger, windowed (strategy at every bar)",
    "backtesting_py": "backtesting.py",
    "backtrader": "backtrader",
    "nautilus_trader": "nautilus_trader",
}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("pandas", "numpy", "SQLAlchemy", "backtesting", "backtrader"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(r: dict) -> list[str]:
    tp, lat, sus, bur, sk = r["throughput"], r["latency"], r["sustained"], r["burst"], r["soak"]
    first = r.get("latency_first")
    v = r["versions"]
    nt = tp["nautilus_trader"]
    nt_version = nt.get("version", "not installed")
    md = [
        "# Engine benchmarks",
        "",
        f"`{r['command']}` on Python {v['python']} ({r['machine']}, {os.cpu_count()} cores); "
        f"backtesting.py {v['backtesting']}, backtrader {v['backtrader']}, nautilus_trader "
        f"{nt_version} (own venv, Python {r['nautilus_python']}). One run, same machine; "
        f"throughput is the best of {r['repeat']} end-to-end runs (DataFrame in → result out).",
        "",
        f"**Replay throughput**: SmaCross {FAST}/{SLOW} long-only on `btc_usd_1h`, fee 0.1 %, "
        "slippage 0.05 %, fills at the next open.",
        "",
        "| engine | bars | seconds | bars/s | fills | closed trades | final equity |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in LABELS.items():
        row = tp[key]
        if "error" in row:
            md.append(f"| {label} | — | not run | — | — | — | {row['error']} |")
            continue
        fills = f"{row['fills']:,}" if row["fills"] is not None else "—"
        md.append(
            f"| {label} | {row['bars']:,} | {row['seconds']:.2f} | {row['bars_per_s']:,.0f} | "
            f"{fills} | {row['trades']:,} | {row['final_equity']:,.2f} |"
        )
    loop = (
        f" (its `run()` loop alone: {nt['run_loop_s']:.2f} s, {nt['bars'] / nt['run_loop_s']:,.0f} "
        "bars/s)"
        if "run_loop_s" in nt
        else ""
    )
    md += [
        "",
        "nzeza's rows include creating the SQLite ledger and writing every intent, order, fill, "
        "position and balance, plus equity every 24 bars; targets are computed once on the "
        "history except in the windowed row. backtesting.py: `FractionalBacktest`, fee + "
        "slippage as its per-leg commission. backtrader: `cheat_on_open`, the order sized and "
        "sent at the open, `stdstats=False`. nautilus_trader: a new `BacktestEngine` per run "
        "(logging bypassed), the bars plus one quote per bar at its open (bid/ask = open ∓ "
        f"slippage) so that orders sized at the open fill there{loop}.",
    ]
    peers = [k for k in ("backtesting_py", "backtrader", "nautilus_trader") if "error" not in tp[k]]
    faster = {k: tp["nzeza"]["bars_per_s"] > tp[k]["bars_per_s"] for k in peers}
    md += [
        "",
        "Target, nzeza with its ledger faster than all three: "
        + ", ".join(
            f"{LABELS[k]} {tp['nzeza']['bars_per_s'] / tp[k]['bars_per_s']:.2f}× "
            f"({'faster' if faster[k] else 'slower'})"
            for k in peers
        )
        + f" → {'met' if len(peers) == 3 and all(faster.values()) else '**not met**'}.",
        "",
        "**Paper session load** (risk + durable paper venue + SQLite ledger, one process)",
        "",
        "| measure | result | target | met |",
        "|---|---|---|---|",
        f"| **decision → order sent**, over the loopback replay feed ({lat['decisions']} "
        f"decisions, {lat['speed']:g}× capture speed): sized, risk-checked, journaled to the "
        f"SQLite ledger (committed), rate budget taken, request handed to the venue adapter "
        f"| P50 {lat['send_p50_us']:,.0f} µs, P99 {lat['send_p99_us']:,.0f} µs, max "
        f"{lat['send_max_us']:,.0f} µs | P99 < 1 ms | {yes(lat['send_p99_us'] < 1000)} |",
        *(
            [
                f"| decision → order sent, the first session of a new process (SQLite "
                f"statements compiled, code paths cold; the row above is the next session) | "
                f"P50 {first['send_p50_us']:,.0f} µs, P99 {first['send_p99_us']:,.0f} µs, max "
                f"{first['send_max_us']:,.0f} µs | — | — |"
            ]
            if first
            else []
        ),
        f"| decision → order acknowledged by the paper venue (the above, plus the simulated "
        f"exchange's own work: it persists order and trade in its own SQLite; what the "
        f"Prometheus decision_to_ack histogram observes) | P50 {lat['ack_p50_us']:,.0f} µs, "
        f"P99 {lat['ack_p99_us']:,.0f} µs, max {lat['ack_max_us']:,.0f} µs | — | — |",
        f"| decision → its fills booked (the above, then fills applied to the portfolio and "
        f"written with positions and order state to the SQLite ledger) | P50 "
        f"{lat['p50_us']:,.0f} µs, P99 {lat['p99_us']:,.0f} µs, max {lat['max_us']:,.0f} µs "
        f"| — | — |",
        f"| {sus['orders']:,} orders paced at 1,000/s | {sus['orders_per_s']:,.1f} orders/s over "
        f"{sus['seconds']} s, P50 {sus['p50_us']:,.0f} µs, P99 {sus['p99_us']:,.0f} µs, "
        f"lost {sus['lost']} | 1,000/s, 0 lost | "
        f"{yes(sus['orders_per_s'] >= 990 and sus['lost'] == 0)} |",
        f"| {bur['orders']:,}-order burst | {bur['orders_per_s']:,.0f} orders/s "
        f"({bur['seconds']} s), P50 {bur['p50_us']:,.0f} µs, P99 {bur['p99_us']:,.0f} µs, "
        f"lost {bur['lost']} | 0 lost | {yes(bur['lost'] == 0)} |",
        "",
        f"**Soak**: {sk['bars']:,} bars ({sk['copies']} end-to-end copies of the real bars, each "
        "rescaled to open at the previous copy's close; largest open/previous-close gap at a "
        f"join {100 * sk['max_price_gap_at_joins']:.3f} %, last close "
        f"{sk['last_close']:.3g}), full engine + SQLite ledger, one replay.",
        "",
        "| bars | seconds | bars/s | fills (in ledger) | RSS after warm-up | RSS at end | "
        "growth | peak RSS | target | met |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---|---|",
        f"| {sk['bars']:,} | {sk['seconds']:.1f} | {sk['bars_per_s']:,.0f} | {sk['fills']:,} "
        f"({sk['ledger_fills']:,}) | {sk['rss_after_warmup_mb']:.0f} MB (bar "
        f"{sk['rss_after_warmup_at_bar']:,}) | {sk['rss_end_mb']:.0f} MB (bar "
        f"{sk['rss_end_at_bar']:,}) | {sk['growth_pct']:+.1f} % | {sk['peak_rss_mb']:.0f} MB | "
        f"< 10 % | {yes(sk['growth_pct'] < 10 and sk['ledger_fills'] == sk['fills'])} |",
        "",
    ]
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: shorter load, small soak")
    ap.add_argument("--repeat", type=int, default=3, help="throughput runs per engine (best)")
    ap.add_argument("--windowed-bars", type=int, default=0, help="bars for windowed (0: all)")
    ap.add_argument("--latency-speed", type=float, default=20.0)
    ap.add_argument("--sustain-seconds", type=int, default=60)
    ap.add_argument("--burst", type=int, default=10_000)
    ap.add_argument("--soak-copies", type=int, default=16)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.windowed_bars, args.sustain_seconds = 1, 3000, 5
        args.soak_copies, args.no_write = 2, True
    warnings.filterwarnings("ignore")
    bars = load_sample("btc_usd_1h")
    result: dict[str, Any] = {
        "command": "python benchmarks/bench_engine.py" + (" --quick" if args.quick else ""),
        "machine": platform.machine(),
        "versions": versions(),
        "repeat": args.repeat,
    }
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as d:
        tmp = Path(d)
        result["throughput"] = throughput(bars, tmp, args.repeat, args.windowed_bars or len(bars))
        print("decision latency …", flush=True)
        # the first session of a process pays one-time costs (statements compiled, code paths
        # cold): reported on its own row; the target is read on the next, steady session
        result["latency_first"] = engine_load.decision_latency(args.latency_speed)
        result["latency"] = engine_load.decision_latency(args.latency_speed) | {
            "speed": args.latency_speed
        }
        print(f"sustained 1,000 orders/s for {args.sustain_seconds} s …", flush=True)
        result["sustained"] = engine_load.orders(1000 * args.sustain_seconds, 1000.0)
        print(f"burst of {args.burst:,} orders …", flush=True)
        result["burst"] = engine_load.orders(args.burst, None)
        print(f"soak: {args.soak_copies} copies …", flush=True)
        result["soak"] = soak(bars, args.soak_copies, tmp)
    py = NAUTILUS_VENV / "bin" / "python"
    result["nautilus_python"] = (
        subprocess.run(
            [str(py), "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if py.exists()
        else "—"
    )
    text = "\n".join(render(result))
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "engine.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (RESULTS / "engine.md").write_text(text)


if __name__ == "__main__":
    main()
