"""Trial-registration overhead: a sweep registered in the ledger vs the same sweep unregistered.

Every sweep registers each combination (params, Sharpe, per-bar float32 returns compressed into
one blob per chunk, one transaction per chunk) in the trial registry. Target: registration adds
less than 10 % to a 100- and a 1,000-combination SmaCross sweep on the 33,259 bars of
btc_usd_1h. Rounds interleave the three modes (unregistered; registered into a fresh SQLite
ledger, every trial new; registered again, every trial known) to spread this shared machine's
drift over all of them; the median of the rounds is reported. Wall-clock differences between
whole sweeps are within this VM's noise (±10 %), so the time spent registering is also measured
directly — the returns computation, identities, compression and the ledger transaction of every
chunk, plus opening and closing the configured ledger once — and reported as a share of the
unregistered sweep. Prints a table and writes benchmarks/results/registry.{json,md}.

    .venv/bin/python benchmarks/bench_registry.py [--rounds 3] [--sizes 100,1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def grid_for(combos: int) -> tuple[dict, object]:
    """fast in 2..101, slow = fast + k (k = 1..combos/100): every combination valid."""
    per_fast = max(1, combos // 100)
    pairs = [(f, f + k) for f in range(2, 102) for k in range(1, per_fast + 1)][:combos]
    wanted = set(pairs)
    grid = {"fast": sorted({f for f, _ in pairs}), "slow": sorted({s for _, s in pairs})}
    return grid, lambda p: (p["fast"], p["slow"]) in wanted


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="100,1000")
    args = ap.parse_args()

    from nzeza.data import load_sample
    from nzeza.domain import Costs
    from nzeza.research import UnregisteredRunWarning, sweep
    from nzeza.research import trials as registry
    from nzeza.store import Ledger
    from nzeza.strategies import SmaCross

    spent = [0.0]  # seconds inside the registration steps of the current sweep

    def timed(fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[0] += time.perf_counter() - t0

        return wrapper

    registry.per_bar_returns = timed(registry.per_bar_returns)
    registry.Recorder.add = timed(registry.Recorder.add)

    warnings.simplefilter("ignore", UnregisteredRunWarning)  # the baseline opts out on purpose
    bars = load_sample("btc_usd_1h")
    costs = Costs(0.001, 0.0005)
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    sweep(SmaCross, bars.iloc[-500:], {"fast": [5], "slow": [20]}, progress=False, register=False)

    rows = []
    for size in (int(x) for x in args.sizes.split(",")):
        grid, constraint = grid_for(size)
        times: dict[str, list[float]] = {"unregistered": [], "registered": [], "rerun": []}
        inside: dict[str, list[float]] = {"registered": [], "rerun": [], "open": []}
        blob_bytes = 0
        for r in range(args.rounds):
            url = f"sqlite:///{tmp / f'{size}-{r}.sqlite'}"

            def run(grid: dict = grid, constraint: object = constraint, **kw: object) -> float:
                t0 = time.perf_counter()
                sweep(SmaCross, bars, grid, costs, constraint=constraint, progress=False, **kw)
                return time.perf_counter() - t0

            times["unregistered"].append(run(register=False))
            t0 = time.perf_counter()
            Ledger(url).close()  # what the default (configured) ledger costs to open per sweep
            inside["open"].append(time.perf_counter() - t0)
            with Ledger(url) as led:
                spent[0] = 0.0
                times["registered"].append(run(ledger=led))
                inside["registered"].append(spent[0])
                spent[0] = 0.0
                times["rerun"].append(run(ledger=led))
                inside["rerun"].append(spent[0])
                with led.engine.connect() as conn:
                    blob_bytes = conn.exec_driver_sql(
                        "SELECT SUM(LENGTH(data)) FROM trial_returns"
                    ).scalar()
        med = {k: statistics.median(v) for k, v in times.items()}
        cost = {k: statistics.median(v) for k, v in inside.items()}
        rows.append(
            {
                "registration_s": round(cost["registered"] + cost["open"], 3),
                "registration_pct": round(
                    100 * (cost["registered"] + cost["open"]) / med["unregistered"], 1
                ),
                "rerun_registration_s": round(cost["rerun"] + cost["open"], 3),
                "combinations": size,
                "bars": len(bars),
                "rounds": args.rounds,
                "unregistered_s": round(med["unregistered"], 3),
                "registered_s": round(med["registered"], 3),
                "rerun_s": round(med["rerun"], 3),
                "overhead_pct": round(100 * (med["registered"] / med["unregistered"] - 1), 1),
                "rerun_overhead_pct": round(100 * (med["rerun"] / med["unregistered"] - 1), 1),
                "returns_stored_mb": round(blob_bytes / 1e6, 2),
                "raw_float32_mb": round(size * len(bars) * 4 / 1e6, 1),
                "all_rounds_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
            }
        )
    result = {
        "target_overhead_pct": 10,
        "met": all(r["registration_pct"] < 10 for r in rows),
        "rows": rows,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    head = (
        "| combos | sweep, unregistered | time registering (new trials) | share | rerun: time "
        "registering (known) | sweep registered, wall | wall diff | stored | raw float32 |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['combinations']:,} | {r['unregistered_s']:.2f} s | {r['registration_s']:.3f} s "
            f"| {r['registration_pct']:.1f} % | {r['rerun_registration_s']:.3f} s "
            f"| {r['registered_s']:.2f} s | {r['overhead_pct']:+.1f} % "
            f"| {r['returns_stored_mb']:.2f} MB | {r['raw_float32_mb']:.1f} MB |"
        )
    table = "\n".join(lines)
    print(table)
    print(f"target: registration < 10 % of the sweep: {'met' if result['met'] else 'NOT met'}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "registry.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "registry.md").write_text(
        "# Trial registration overhead (SmaCross on btc_usd_1h, 33,259 bars; median of "
        f"{args.rounds} interleaved rounds)\n\n{table}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
