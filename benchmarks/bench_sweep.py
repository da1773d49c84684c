"""Sweep memory and throughput: 10,000 SmaCross combinations on the 33,259 bars of btc_usd_1h.

Targets (issue 15): at least 5× the 45.5 combinations/s of the vectorbt-based sweep
(≥ 227.5/s), with peak RSS within 4 GB — memory stays bounded because the sweep runs nzeza's
compiled kernel one chunk of parameter columns at a time. About half the time is the
strategies' own `target` calls (two rolling means over 33,259 bars, ~0.5 ms each call with
`nzeza.strategies.indicators`, ~1.5 ms with pandas' `rolling`); the kernel and the statistics
are ~0.5 ms per combination. `--scheduler processes` spreads the chunks over local worker
processes (Dask); `--keep-returns` also keeps every row's per-bar returns (float32,
33,259 × 10,000 ≈ 1.3 GB). Prints a table and writes benchmarks/results/sweep.{json,md}.

    .venv/bin/python benchmarks/bench_sweep.py [--combos 10000] [--chunk 250]
        [--scheduler processes|tcp://host:8786] [--keep-returns]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BEFORE = 45.5  # combinations/s of the vectorbt-based sweep on this machine (results before)


def rss_mb() -> float:
    """Current resident set size (MB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--combos", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--scheduler", default=None, help="processes or tcp://host:8786")
    ap.add_argument("--keep-returns", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()

    from nzeza.data import load_sample
    from nzeza.domain import Costs
    from nzeza.research import sweep
    from nzeza.strategies import SmaCross

    bars = load_sample("btc_usd_1h")
    # fast in 2..101, slow = fast + k for k in 1..(combos/100): every combination is valid
    per_fast = max(1, args.combos // 100)
    grid_pairs = [(f, f + k) for f in range(2, 102) for k in range(1, per_fast + 1)]
    grid_pairs = grid_pairs[: args.combos]
    fast = sorted({f for f, _ in grid_pairs})
    slow = sorted({s for _, s in grid_pairs})
    wanted = set(grid_pairs)

    def constraint(p: dict) -> bool:
        return (p["fast"], p["slow"]) in wanted

    # the kernel is compiled once into numba's on-disk cache (`make install` does it); load it
    # here so that the timed sweep measures the work, as every later process does
    sweep(SmaCross, bars.iloc[:500], {"fast": [5], "slow": [20]}, progress=False, register=False)
    base = rss_mb()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    t0, cpu0 = time.perf_counter(), time.process_time()
    table = sweep(
        SmaCross,
        bars,
        {"fast": fast, "slow": slow},
        Costs(0.001, 0.0005),
        10_000,
        constraint=constraint,
        chunk_size=args.chunk,
        progress=True,
        scheduler=args.scheduler,
        keep_returns=args.keep_returns,
        register=False,  # memory and throughput of the sweep itself (see bench_registry.py)
    )
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0  # this process's CPU time: what the wall time is when the
    # machine is not shared (with a scheduler the workers' CPU is not in it)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    n = len(table)
    rate = n / elapsed
    result = {
        "combinations": n,
        "bars": len(bars),
        "chunk_size": args.chunk,
        "scheduler": args.scheduler,
        "keep_returns": args.keep_returns,
        "seconds": round(elapsed, 2),
        "combinations_per_s": round(rate, 1),
        "cpu_seconds": round(cpu, 2),
        "combinations_per_cpu_s": round(n / cpu, 1),
        "before_combinations_per_s": BEFORE,
        "speedup": round(rate / BEFORE, 2),
        "target_combinations_per_s": 5 * BEFORE,
        "rss_before_mb": round(base, 1),
        "peak_rss_mb": round(peak, 1),
        "target_peak_rss_mb": 4096,
        "met": peak <= 4096 and rate >= 5 * BEFORE and n == args.combos,
        "load_average": load,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    where = "this process" if args.scheduler is None else f"Dask ({args.scheduler})"
    rows = [
        ("combinations × bars", f"{n:,} × {len(bars):,}"),
        ("chunk (parameter columns per kernel call)", f"{args.chunk}, in {where}"),
        ("per-bar returns kept", "yes (float32)" if args.keep_returns else "no"),
        ("wall time", f"{elapsed:.1f} s"),
        (
            "combinations/s",
            f"{rate:,.1f} = {rate / BEFORE:.1f}× the vectorbt-based sweep's {BEFORE} "
            f"(target ≥ {5 * BEFORE:.1f}: {'met' if rate >= 5 * BEFORE else 'NOT met'})",
        ),
        (
            "CPU time of this process",
            f"{cpu:.1f} s = {n / cpu:,.1f} combinations per CPU-second"
            + (" (workers' CPU not counted)" if args.scheduler else " (the wall time when idle)"),
        ),
        ("RSS before the sweep", f"{base:,.0f} MB"),
        (
            "peak RSS (this process" + (", workers not counted)" if args.scheduler else ")"),
            f"{peak:,.0f} MB (target ≤ 4,096 MB)",
        ),
        ("load average at the start", load),
    ]
    cmd = f"--combos {args.combos} --chunk {args.chunk}"
    if args.scheduler:
        cmd += f" --scheduler {args.scheduler}"
    if args.keep_returns:
        cmd += " --keep-returns"
    md = [
        "# Sweep benchmark",
        "",
        f"`.venv/bin/python benchmarks/bench_sweep.py {cmd}` on Python "
        f"{platform.python_version()} ({platform.machine()}, {os.cpu_count()} cores), a shared "
        "VM (the load average below says how busy it was; compare runs on a quiet machine).",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
    ]
    print("\n".join(md))
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "sweep.md").write_text("\n".join(md))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
