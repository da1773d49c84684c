"""Books rebuilt from the bundled heads of the real Binance captures (test helper).

The data files are the first messages (depth diffs, book tickers, the REST snapshot) of
`/work/shared/data/binance_spot_*_20240808.jsonl.gz` (hftbacktest examples, MIT). The book is
built the way Binance documents: snapshot, drop diffs with u <= lastUpdateId, first applied
diff straddles lastUpdateId+1, then contiguous. Each rebuilt book is checked against the
exchange's own bookTicker at the same update id before it is handed out.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from nzeza.execution import SnapshotBook

DATA = Path(__file__).parent / "data"
BTC = DATA / "binance_spot_btcusdt_20240808_head.jsonl.gz"
ETH = DATA / "binance_spot_ethusdt_20240808_head.jsonl.gz"


def _messages(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt") as f:
        for line in f:
            _, payload = line.split(" ", 1)
            yield json.loads(payload)


def snapshot_book(path: Path = BTC) -> SnapshotBook:
    """The book of the REST snapshot line alone."""
    for msg in _messages(path):
        if "lastUpdateId" in msg:
            return SnapshotBook.from_binance_snapshot(msg)
    raise AssertionError("no snapshot in capture")


def rebuilt_books(path: Path = BTC) -> Iterator[SnapshotBook]:
    """Books at every bookTicker whose update id the rebuilt book has reached, verified."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    buffered: list[dict] = []
    last: int | None = None
    tickers: dict[int, dict] = {}

    def apply(diff: dict) -> None:
        for side, levels in ((bids, diff["b"]), (asks, diff["a"])):
            for p, q in levels:
                price, size = Decimal(p), Decimal(q)
                if size == 0:
                    side.pop(price, None)
                else:
                    side[price] = size

    def feed(diff: dict) -> bool:
        nonlocal last
        assert last is not None
        if diff["u"] <= last:
            return False
        if not (diff["U"] <= last + 1 <= diff["u"]):
            raise AssertionError(f"gap: U={diff['U']} last={last}")
        apply(diff)
        last = diff["u"]
        return True

    for msg in _messages(path):
        if "lastUpdateId" in msg:
            bids = {Decimal(p): Decimal(q) for p, q in msg["bids"]}
            asks = {Decimal(p): Decimal(q) for p, q in msg["asks"]}
            last = msg["lastUpdateId"]
            for diff in buffered:
                feed(diff)
            continue
        data = msg["data"]
        if msg["stream"].endswith("bookTicker"):
            tickers[data["u"]] = data
            continue
        if last is None:
            buffered.append(data)
            continue
        if feed(data) and last in tickers:
            t = tickers.pop(last)
            book = SnapshotBook.from_levels(bids.items(), asks.items())
            assert book.bids[0] == (Decimal(t["b"]), Decimal(t["B"])), (book.bids[0], t)
            assert book.asks[0] == (Decimal(t["a"]), Decimal(t["A"])), (book.asks[0], t)
            yield book
