"""Feed benchmarks: parse + book apply throughput, and loopback end-to-end latency.

1. Throughput over the bundled Binance captures (BTCUSDT 0808+0809, ETHUSDT 0808; every message
   parsed into typed Decimal events, book events applied to an `OrderBook` that stays in sync),
   against a baseline that only does `json.loads` + float conversion of every price/size (no
   events, no book). One core, best of `--repeat` interleaved rounds, messages held in memory
   as bytes.
   Two nzeza figures: the *first pass* starts every run with an empty decimal cache (each
   distinct price/size text is converted once, as on a live stream that just started: 13 % of
   the values in the BTCUSDT captures are new), the *repeat pass* runs with the cache that a
   previous pass left (every value a hit: an upper bound, not a live figure). The target is
   judged on the first pass.
2. Loopback latency: `ReplayServer` → real websocket on 127.0.0.1 → `FeedConnection` → book
   applied; per depth diff, from the server's send call to the client's apply (both in one
   process, `perf_counter_ns`), at `--latency-speed` times capture speed.

Writes benchmarks/results/feeds.json and feeds.md.
Run: `.venv/bin/python benchmarks/bench_feeds.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from pathlib import Path

import orjson

from nzeza.feeds import binance
from nzeza.feeds._wire import DEC, PX
from nzeza.feeds.book import OrderBook
from nzeza.feeds.capture import BINANCE_BTCUSDT, BINANCE_ETHUSDT, bundled, read_capture
from nzeza.feeds.events import BookDelta, BookSnapshot

RESULTS = Path(__file__).with_name("results")


def load(names: tuple[str, ...]) -> list[tuple[int, bytes]]:
    return [(ns, raw.encode()) for n in names for ns, raw in read_capture(bundled(n))]


def run_nzeza(
    lines: list[tuple[int, bytes]], symbol: str, cold: bool = True
) -> tuple[float, OrderBook]:
    if cold:
        DEC.clear()  # every distinct decimal text is converted again, as on a fresh stream
        PX.clear()
    book = OrderBook("binance", symbol)
    parse, apply = binance.parse, book.apply
    t0 = time.perf_counter()
    for ns, raw in lines:
        for ev in parse(raw, ns, symbol):
            kind = type(ev)
            if kind is BookDelta or kind is BookSnapshot:
                apply(ev)
    return time.perf_counter() - t0, book


def run_baseline(lines: list[tuple[int, bytes]]) -> float:
    """json.loads + float() of every price and size: the naive parser, with no book at all."""
    loads = json.loads
    t0 = time.perf_counter()
    for _, raw in lines:
        msg = loads(raw)
        data = msg.get("data", msg)
        if "b" in data and isinstance(data["b"], list):
            [(float(p), float(q)) for p, q in data["b"]]
            [(float(p), float(q)) for p, q in data["a"]]
        elif "bids" in data:
            [(float(p), float(q)) for p, q in data["bids"]]
            [(float(p), float(q)) for p, q in data["asks"]]
        elif "p" in data:
            float(data["p"]), float(data["q"])
        else:
            float(data["b"]), float(data["B"]), float(data["a"]), float(data["A"])
    return time.perf_counter() - t0


def throughput(repeat: int) -> list[dict]:
    rows = []
    for label, names, symbol in (
        ("BTCUSDT 0808+0809", BINANCE_BTCUSDT, "BTCUSDT"),
        ("ETHUSDT 0808", BINANCE_ETHUSDT, "ETHUSDT"),
    ):
        lines = load(names)
        # Interleaved rounds (first pass, repeat pass, baseline), best of each: a slow spell of
        # this shared VM then costs every contender a round instead of one contender all of its.
        best = warm = base = float("inf")
        for _ in range(repeat):
            seconds, book = run_nzeza(lines, symbol)
            assert book.in_sync and book.gaps == 0, book
            best = min(best, seconds)
            warm = min(warm, run_nzeza(lines, symbol, cold=False)[0])
            base = min(base, run_baseline(lines))
        rows.append(
            {
                "capture": label,
                "messages": len(lines),
                "nzeza_msgs_per_s": round(len(lines) / best),
                "nzeza_repeat_pass_msgs_per_s": round(len(lines) / warm),
                "baseline_msgs_per_s": round(len(lines) / base),
                "nzeza_s": round(best, 4),
                "nzeza_repeat_pass_s": round(warm, 4),
                "baseline_s": round(base, 4),
            }
        )
    return rows


async def _latency(speed: float) -> dict:
    from nzeza.feeds.connection import Backoff, FeedConnection, binance_rest_snapshot
    from nzeza.feeds.replay import ReplayServer

    sent: dict[int, int] = {}
    applied: dict[int, int] = {}

    def on_send(raw: str, t_ns: int) -> None:
        if "@depth" in raw[:40]:
            sent[orjson.loads(raw)["data"]["u"]] = t_ns

    book = OrderBook("binance", "ETHUSDT")

    def on_event(ev) -> None:
        if type(ev) is BookDelta and book.last_update_id == ev.update_id:
            applied[ev.update_id] = time.perf_counter_ns()

    async with ReplayServer(
        [bundled(n) for n in BINANCE_ETHUSDT], speed=speed, on_send=on_send
    ) as server:
        conn = FeedConnection(
            server.url,
            venue="binance",
            parse=binance.parse,
            subscriptions=[binance.subscribe_message(binance.stream_names("ETHUSDT"))],
            books={"ETHUSDT": book},
            snapshot_fetcher=binance_rest_snapshot(server.http_url),
            on_event=on_event,
            ping_interval_s=None,
            backoff=Backoff(base_s=0.01),
            snapshot_retry_s=0.02,
        )
        task = asyncio.ensure_future(conn.run())
        await server.finished.wait()
        await asyncio.sleep(0.3)
        await conn.close()
        await task
    lat_us = sorted((applied[u] - sent[u]) / 1000 for u in applied if u in sent)
    q = statistics.quantiles(lat_us, n=100)
    return {
        "speed": speed,
        "depth_diffs_measured": len(lat_us),
        "p50_us": round(q[49], 1),
        "p99_us": round(q[98], 1),
        "max_us": round(lat_us[-1], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--latency-speed", type=float, default=50.0)
    args = ap.parse_args()
    rows = throughput(args.repeat)
    lat = asyncio.run(_latency(args.latency_speed))
    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "throughput": rows,
        "latency": lat,
        "target_msgs_per_s": 200_000,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "feeds.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Feed benchmarks",
        "",
        "Parse + book apply, one core (`benchmarks/bench_feeds.py`), best of "
        f"{args.repeat}; baseline = `json.loads` + float conversion only (no events, no book). "
        "First pass: empty decimal cache at the start of each run (judged against the target "
        "of 200,000 msg/s); repeat pass: cache left by a previous pass (upper bound).",
        "",
        "| capture | messages | nzeza first pass msg/s | nzeza repeat pass msg/s "
        "| baseline msg/s | target met |",
        "|---|---:|---:|---:|---:|---|",
    ]
    md += [
        f"| {r['capture']} | {r['messages']:,} | {r['nzeza_msgs_per_s']:,} | "
        f"{r['nzeza_repeat_pass_msgs_per_s']:,} | {r['baseline_msgs_per_s']:,} | "
        f"{'yes' if r['nzeza_msgs_per_s'] >= 200_000 else 'no'} |"
        for r in rows
    ]
    md += [
        "",
        f"Loopback latency, server send → book applied, {lat['depth_diffs_measured']} depth "
        f"diffs at {lat['speed']:g}x capture speed: P50 {lat['p50_us']} µs, "
        f"P99 {lat['p99_us']} µs, max {lat['max_us']} µs.",
        "",
    ]
    (RESULTS / "feeds.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
