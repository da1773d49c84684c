"""Engine load measurements used by bench_engine.py (also runnable alone).

- paper-mode decision-to-order latency over the loopback websocket replay feed;
- 1,000 orders/s sustained and a 10,000-order burst through risk + paper venue + ledger.

    .venv/bin/python benchmarks/engine_load.py [--sustain-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs
from nzeza.engine.feed import replay_feed
from nzeza.engine.runner import risk_hook, session_instrument
from nzeza.engine.session import Session, SessionConfig
from nzeza.engine.trader import Intent, client_order_id
from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
from nzeza.feeds.replay import ReplayServer
from nzeza.risk import RiskConfig
from nzeza.store import Ledger
from nzeza.venues.base import OrderRequest
from nzeza.venues.paper.durable import DurablePaperVenue

COSTS = Costs(0.001, 0.0005)


class Flip:
    """Long after an up bar, short after a down bar: a decision at almost every bar."""

    warmup = 1
    params: dict[str, Any] = {}  # noqa: RUF012

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return np.sign(bars["close"] - bars["open"]).astype(float)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def _latency(tmp: Path, speed: float) -> dict[str, Any]:
    inst = session_instrument("BTCUSDT")
    async with ReplayServer([bundled(n) for n in BINANCE_BTCUSDT], speed=speed) as server:
        ledger = Ledger(f"sqlite:///{tmp / 'lat.sqlite'}")
        venue = DurablePaperVenue(tmp / "lat-venue.sqlite", [inst], COSTS)
        cfg = SessionConfig("lat", Flip(), "flip", {}, inst, COSTS, Decimal(10_000), 1_000_000_000)
        session = Session(cfg, ledger, venue)
        session.pre_trade = risk_hook(ledger, "lat", inst, session.portfolio)
        report = await session.run(replay_feed(server.url, "BTCUSDT"))
        ledger.close()
    lat_us = [n / 1000 for n in report.decision_latencies_ns]
    ack_us = [n / 1000 for n in report.ack_latencies_ns]
    send_us = [n / 1000 for n in report.send_latencies_ns]
    return {
        "decisions": len(lat_us),
        "bars": report.bars,
        "p50_us": pct(lat_us, 50),
        "p99_us": pct(lat_us, 99),
        "max_us": max(lat_us) if lat_us else None,
        # decision → order handed to the venue adapter (sized, risk-checked, journaled)
        "send_p50_us": pct(send_us, 50),
        "send_p99_us": pct(send_us, 99),
        "send_max_us": max(send_us) if send_us else None,
        # decision → the venue acknowledged the order (the Prometheus decision_to_ack histogram)
        "ack_p50_us": pct(ack_us, 50),
        "ack_p99_us": pct(ack_us, 99),
        "ack_max_us": max(ack_us) if ack_us else None,
        "what": "first trade of a bar → sized, risk-checked, journaled, sent to the paper "
        "venue, filled, fill + position written to the SQLite ledger",
    }


def decision_latency(speed: float = 20.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        return asyncio.run(_latency(Path(d), speed))


async def _orders(tmp: Path, n: int, rate: float | None) -> dict[str, Any]:
    """`n` orders through risk + durable paper venue + ledger, paced at `rate`/s (None: burst)."""
    inst = session_instrument("BTCUSDT")
    ledger = Ledger(f"sqlite:///{tmp / f'orders-{n}.sqlite'}")
    venue = DurablePaperVenue(tmp / f"orders-{n}-venue.sqlite", [inst], COSTS)
    cfg = SessionConfig("load", Flip(), "flip", {}, inst, COSTS, Decimal(10**9), 1_000_000_000)
    session = Session(cfg, ledger, venue)
    # a load test sends 1,000+ orders a second on purpose: the default order-rate limit (10/s)
    # would refuse them, so this harness runs the checks with that limit off
    check = risk_hook(
        ledger, "load", inst, session.portfolio, config=RiskConfig(max_slippage_bps=None)
    )
    venue.on_trade(inst.id, Decimal("60000"), 1)
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(1, n + 1):
        if rate is not None:  # pace: order i is due at start + i / rate
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        t0 = time.perf_counter()
        side = "buy" if i % 2 else "sell"
        intent = Intent(
            i, client_order_id("load", i), side, Decimal("0.001"), Decimal("60000"), Decimal(0), i
        )
        check(intent)
        ledger.journal_intent(
            "load", i, intent.client_order_id, inst.id, side, intent.quantity, "market", None, i
        )
        order = await venue.submit(
            OrderRequest(intent.client_order_id, inst.id, side, intent.quantity)
        )
        for fill in await venue.order_fills(inst.id, order.client_order_id):
            session.trader.apply_fill(fill)
        latencies.append((time.perf_counter() - t0) * 1e6)
    elapsed = time.perf_counter() - start
    recorded = len(ledger.fills("load"))
    ledger.close()
    return {
        "orders": n,
        "seconds": round(elapsed, 2),
        "orders_per_s": round(n / elapsed, 1),
        "p50_us": round(pct(latencies, 50), 1),
        "p99_us": round(pct(latencies, 99), 1),
        "venue_orders": venue.order_count(),
        "ledger_fills": recorded,
        "lost": n - recorded,
    }


def orders(n: int, rate: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        return asyncio.run(_orders(Path(d), n, rate))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sustain-seconds", type=int, default=60)
    args = ap.parse_args()
    out = {
        "decision_latency": decision_latency(),
        "sustained_1000_per_s": orders(1000 * args.sustain_seconds, 1000.0),
        "burst_10000": orders(10_000, None),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
