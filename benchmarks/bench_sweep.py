"""Sweep memory and throughput: 10,000 SmaCross combinations on the 33,259 bars of btc_usd_1h.

Target (issue: research layer): memory stays bounded — peak RSS within 4 GB — because the sweep
runs vectorbt one chunk of parameter columns at a time. Prints a table and writes
benchmarks/results/sweep.{json,md}.

    .venv/bin/python benchmarks/bench_sweep.py [--combos 10000] [--chunk 250]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


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

    base = rss_mb()
    t0 = time.perf_counter()
    table = sweep(
        SmaCross,
        bars,
        {"fast": fast, "slow": slow},
        Costs(0.001, 0.0005),
        10_000,
        constraint=constraint,
        chunk_size=args.chunk,
        progress=True,
        register=False,  # memory and throughput of the sweep itself (see bench_registry.py)
    )
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    n = len(table)
    result = {
        "combinations": n,
        "bars": len(bars),
        "chunk_size": args.chunk,
        "seconds": round(elapsed, 2),
        "combinations_per_s": round(n / elapsed, 1),
        "rss_before_mb": round(base, 1),
        "peak_rss_mb": round(peak, 1),
        "target_peak_rss_mb": 4096,
        "met": peak <= 4096 and n == args.combos,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    rows = [
        ("combinations × bars", f"{n:,} × {len(bars):,}"),
        ("chunk (parameter columns per vectorbt call)", f"{args.chunk}"),
        ("wall time", f"{elapsed:.1f} s"),
        ("combinations/s", f"{n / elapsed:,.1f}"),
        ("RSS before the sweep", f"{base:,.0f} MB"),
        ("peak RSS (whole process)", f"{peak:,.0f} MB (target ≤ 4,096 MB)"),
    ]
    md = [
        "# Sweep benchmark",
        "",
        f"`.venv/bin/python benchmarks/bench_sweep.py --combos {args.combos} --chunk "
        f"{args.chunk}` on Python {platform.python_version()} ({platform.machine()}).",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
    ]
    print("\n".join(md))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "sweep.md").write_text("\n".join(md))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
