"""Audit-chain benchmarks: what covering every ledger row with the keyed chain costs.

1. Replay with a SQLite ledger (`bench_engine`'s throughput row: SmaCross(10, 30) on the bundled
   `btc_usd_1h`, 33,259 bars, a new ledger file per run, best of `--repeat`), and without one:
   every intent, order, fill, position, balance, equity snapshot and resume point is hashed and
   chained, and the anchor moves at each of the 7 commits.
2. A single journal write (`Ledger.journal_intent`, its own transaction: the intent, its event
   entry, its rows entry, the commit and the anchor move), `--writes` times: P50/P99/P99.9.
3. The anchor's move after a commit, alone (flock, read, HMAC, one 512-byte pwrite): µs.
4. `audit verify` (the chain's HMACs and links, every covered row, the anchor) on the replay's
   ledger and on a large one: `--copies` copies of the bars end to end with an equity snapshot at
   every bar (a few hundred thousand rows).

    .venv/bin/python benchmarks/bench_audit.py            # writes results/audit.{json,md}
    .venv/bin/python benchmarks/bench_audit.py --quick    # smaller, prints only

Compare runs on the same machine only: the before/after numbers in the README come from running
this file's measurements interleaved against the previous commit (see its "A/B" note).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.store import Ledger
from nzeza.store.audit import AuditKey
from nzeza.store.auditfiles import Anchor
from nzeza.strategies import SmaCross

RESULTS = Path(__file__).with_name("results")
COSTS = Costs(0.001, 0.0005)


def replay_seconds(bars, tmp: Path, ledger: bool, **kw) -> tuple[float, str | None]:
    gc.collect()
    url = f"sqlite:///{tmp / f'r-{time.perf_counter_ns()}.sqlite'}"
    t0 = time.perf_counter()
    led = Ledger(url) if ledger else None
    replay(SmaCross(fast=10, slow=30), bars, COSTS, 10_000.0, ledger=led, **kw)
    if led is not None:
        led.close()
    return time.perf_counter() - t0, url if ledger else None


def journal_latency(tmp: Path, writes: int) -> dict:
    led = Ledger(f"sqlite:///{tmp / 'journal.sqlite'}")
    led.start_session("j", mode="paper", strategy="s", params={}, venue="paper",
                      currency="USDT", initial_balances={"USDT": Decimal(1)})  # fmt: skip
    lat = []
    for i in range(1, writes + 1):
        t0 = time.perf_counter_ns()
        led.journal_intent("j", i, f"c{i}", "BTC/USDT", "buy", Decimal("0.1"), "market", None, i)
        lat.append(time.perf_counter_ns() - t0)
    led.close()
    us = np.array(lat) / 1000
    return {f"p{p}_us": round(float(np.percentile(us, p)), 1) for p in (50, 99, 99.9)}


def anchor_move_us(tmp: Path, n: int = 20_000) -> float:
    anchor = Anchor(tmp / "bench.anchor", "bench", AuditKey(b"k" * 64))
    anchor.create(0, "h0")
    t0 = time.perf_counter()
    for seq in range(1, n + 1):
        anchor.advance(seq, "h", lambda _s, _h: True)
    anchor.close()
    return (time.perf_counter() - t0) / n * 1e6


def verify(url: str) -> dict:
    with Ledger(url) as led:
        gc.collect()
        t0 = time.perf_counter()
        report = led.verify_audit()
        seconds = time.perf_counter() - t0
    assert report.ok, report
    return {
        "entries": report.rows,
        "rows": report.covered_rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round((report.rows + report.covered_rows) / seconds),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--writes", type=int, default=5000)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.writes, args.copies = 2, 1000, 2
    from bench_engine import tiled_bars

    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    os.environ.setdefault("NZEZA_AUDIT_DIR", str(tmp / "audit"))  # not the user's own
    bars = load_sample("btc_usd_1h")
    replay_seconds(bars.iloc[:2000], tmp, True)  # imports, caches
    runs = [replay_seconds(bars, tmp, True) for _ in range(args.repeat)]
    best, url = min(runs)
    bare = min(replay_seconds(bars, tmp, False)[0] for _ in range(args.repeat))
    result = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "replay": {
            "bars": len(bars),
            "seconds": round(best, 4),
            "bars_per_s": round(len(bars) / best),
            "no_ledger_bars_per_s": round(len(bars) / bare),
            "runs_s": [round(r[0], 4) for r in runs],
        },
        "journal_write": journal_latency(tmp, args.writes) | {"writes": args.writes},
        "anchor_move_us": round(anchor_move_us(tmp), 1),
        "verify_replay_ledger": verify(url),
    }
    big = tiled_bars(bars, args.copies)
    _, big_url = replay_seconds(big, tmp, True, equity_every=1)
    result["verify_large_ledger"] = verify(big_url) | {"bars": len(big)}
    md = [
        "# Audit chain",
        "",
        f"{result['machine']}, Python {result['python']}. One run; shared machine: compare "
        "runs on the same machine only.",
        "",
        "| what | value |",
        "|---|---|",
        f"| replay with SQLite ledger, {len(bars):,} bars (best of {args.repeat}) | "
        f"{result['replay']['bars_per_s']:,} bars/s (no ledger "
        f"{result['replay']['no_ledger_bars_per_s']:,}) |",
        f"| journal write (own transaction + anchor), {args.writes:,} writes | P50 "
        f"{result['journal_write']['p50_us']} µs, P99 {result['journal_write']['p99_us']} µs, "
        f"P99.9 {result['journal_write']['p99.9_us']} µs |",
        f"| anchor move after a commit | {result['anchor_move_us']} µs |",
    ]
    for name in ("verify_replay_ledger", "verify_large_ledger"):
        v = result[name]
        md.append(
            f"| audit verify, {v['entries']:,} chain entries + {v['rows']:,} rows | "
            f"{v['seconds']} s ({v['rows_per_s']:,} rows/s) |"
        )
    print("\n".join(md[4:]))
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "audit.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "audit.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
