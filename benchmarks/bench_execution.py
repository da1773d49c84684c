"""Execution benchmarks: risk-check latency (P50/P99), orders/s through risk + paper venue,
slippage estimates/s on a real Binance BTCUSDT book (REST snapshot, 1000 levels a side).

    .venv/bin/python benchmarks/bench_execution.py [--orders 20000]

Writes benchmarks/results/execution.json and execution.md. Timings are wall clock on this
machine; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

from nzeza.domain import Instrument, Portfolio
from nzeza.domain.intent import OrderIntent
from nzeza.execution import SnapshotBook, estimate_slippage
from nzeza.execution.client_ids import client_order_id
from nzeza.risk import RiskConfig, RiskContext, RiskEngine
from nzeza.venues import OrderRequest, PaperVenue

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests/execution/data/binance_spot_btcusdt_20240808_head.jsonl.gz"
OUT = ROOT / "benchmarks/results"
BTC = Instrument(
    "binance",
    "BTC/USDT",
    "BTC",
    "USDT",
    Decimal("0.01"),
    Decimal("0.00001"),
    Decimal("0.00001"),
    Decimal(5),
)


def real_book() -> SnapshotBook:
    with gzip.open(DATA, "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            if "lastUpdateId" in msg:
                return SnapshotBook.from_binance_snapshot(msg)
    raise SystemExit("no snapshot")


def engine() -> RiskEngine:
    cfg = RiskConfig(
        max_order_qty=Decimal(5),
        max_order_notional=Decimal(300000),
        position_limits={BTC.id: Decimal(10)},
        max_gross_exposure=Decimal(10**6),
        max_net_exposure=Decimal(10**6),
        max_open_positions=5,
        max_open_orders=50,
        daily_loss_limit=Decimal(10000),
        price_band_bps=Decimal(200),
        max_orders_per_window=10**9,
        max_slippage_bps=Decimal(50),
    )
    return RiskEngine(cfg, [BTC])


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20000)
    args = ap.parse_args(argv)
    book = real_book()
    mid = book.mid
    n = args.orders

    # 1. risk-check latency, all checks on, market orders with the slippage walk on the book
    eng = engine()
    pf = Portfolio("USDT", {"USDT": 10**7}, [BTC])
    ctx = RiskContext(pf.snapshot(), {BTC.id: mid}, 1_723_161_254_000_000_000, book=book)
    sides = ("buy", "sell")
    lat = []
    for i in range(n):
        intent = OrderIntent(BTC.id, sides[i % 2], Decimal("0.01") * (1 + i % 50))
        t0 = time.perf_counter_ns()
        eng.check(intent, ctx)
        lat.append((time.perf_counter_ns() - t0) / 1000)

    # 2. orders/s through risk + paper venue (fills move the portfolio; context rebuilt per order)
    eng = engine()
    venue = PaperVenue.book_mode([BTC], balances={"USDT": 10**9})
    venue.set_book(BTC.id, book, 0)
    t0 = time.perf_counter()
    accepted = 0
    for i in range(n):
        snap = venue.portfolio.snapshot()
        c = RiskContext(snap, {BTC.id: mid}, 1_723_161_254_000_000_000 + i, book=book)
        intent = OrderIntent(BTC.id, sides[i % 2], Decimal("0.01"), seq=i)
        d = eng.check(intent, c)
        if d.accepted:
            venue.submit_now(OrderRequest.from_intent(d.intent, client_order_id("bench", i)))
            accepted += 1
    orders_s = n / (time.perf_counter() - t0)

    # 3. slippage estimates/s on the real book, sizes from the touch to deep in the book
    sizes = [Decimal(s) for s in ("0.01", "0.5", "3", "10", "25")]
    t0 = time.perf_counter()
    m = 0
    while m < n:
        for s in sizes:
            estimate_slippage(book, sides[m % 2], s)
            m += 1
    est_s = m / (time.perf_counter() - t0)
    levels_25 = estimate_slippage(book, "buy", Decimal(25)).levels

    result = {
        "risk_check_us_p50": round(statistics.median(lat), 2),
        "risk_check_us_p99": round(pct(lat, 99), 2),
        "orders_per_s_risk_plus_paper": round(orders_s),
        "orders_accepted": accepted,
        "slippage_estimates_per_s": round(est_s),
        "book_levels_per_side": len(book.bids),
        "levels_walked_for_25_btc": levels_25,
        "n": n,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "execution.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Execution benchmarks",
        "",
        f"`.venv/bin/python benchmarks/bench_execution.py --orders {n}` on Python "
        f"{result['python']} ({result['machine']}); real Binance BTCUSDT snapshot book "
        f"({result['book_levels_per_side']} levels a side).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| risk check P50 (12 checks + slippage walk) | {result['risk_check_us_p50']} µs |",
        f"| risk check latency P99 | {result['risk_check_us_p99']} µs |",
        f"| orders/s through risk + paper venue | {result['orders_per_s_risk_plus_paper']:,} |",
        f"| slippage estimates/s (sizes 0.01–25 BTC) | {result['slippage_estimates_per_s']:,} |",
        "",
    ]
    (OUT / "execution.md").write_text("\n".join(md))
    print("\n".join(md[4:]))
    return result


if __name__ == "__main__":
    main()
