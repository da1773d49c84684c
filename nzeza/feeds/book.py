"""A local L2 order book, built from a snapshot plus deltas, with venue sequencing rules.

Sans-I/O: `OrderBook.apply(event)` takes `BookSnapshot` / `BookDelta` events in arrival order
and never does I/O. When the book needs a fresh snapshot (first start, a sequence gap, a
checksum mismatch, a snapshot older than the buffered deltas) it says so through `needs_snapshot`
and the `on_resync(book, reason)` callback; the connection shell fetches or resubscribes.

Sequencing rules (`sequencing=`):
- "binance" — Binance's documented procedure for a local book
  (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams, "How to manage
  a local order book correctly"): buffer diffs until the snapshot arrives; drop any diff with
  `u <= lastUpdateId`; the first applied diff must satisfy `U <= lastUpdateId + 1 <= u` (if the
  oldest buffered diff starts after `lastUpdateId + 1` the snapshot is too old: fetch another);
  afterwards every diff's `U` must be the previous `u + 1`, else the book is out of sync.
- "none" — deltas are applied in arrival order once a snapshot is in (venues whose gaps are
  detected at the connection level, e.g. Coinbase `sequence_num`, dYdX `message_id`); deltas
  whose `update_id` is older than the book's are dropped as stale (equal ids are applied: one
  message may carry several deltas, and level sizes are absolute, so a repeat is harmless).
  Deltas that arrived while waiting for a snapshot are superseded by it and dropped, unless
  their id is newer than the snapshot's (a stale delta replayed over a fresh snapshot would
  put old sizes back: a Kraken book would fail its next checksum and resync forever).
A `checksum_fn(book) -> int` (Kraken CRC32) is checked after every event that carries one;
`max_depth` truncates each side after every event (Kraken sends no deletes for levels that
fall out of the subscribed depth).

Speed: each side is a dict price → size plus a heap of prices for the best level with lazy
deletion, so an update is O(log n) and best bid/ask is O(1) amortised; `depth(n)` sorts on
demand.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from heapq import heapify, heappop, heappush, nlargest, nsmallest
from typing import Literal

from nzeza.errors import BookOutOfSync, ValidationError
from nzeza.feeds.events import BookDelta, BookSnapshot, Level

Sequencing = Literal["binance", "none"]
ResyncCallback = Callable[["OrderBook", str], None]


class OrderBook:
    """Local L2 book of one symbol on one venue.

    Args:
        venue, symbol: what the book is of (events for other symbols are rejected).
        sequencing: "binance" (U/u rules) or "none" (see module docstring).
        strict: raise `BookOutOfSync` on a gap instead of only flagging `in_sync=False`.
        max_buffer: most deltas kept while waiting for a snapshot (oldest dropped beyond).
        max_depth: keep only the best N levels per side after each event (None: keep all).
        checksum_fn: computes the venue checksum of this book, compared with event.checksum.
        on_resync: called with (book, reason) each time the book needs a new snapshot.
    """

    __slots__ = (
        "_ask_heap",
        "_asks",
        "_bid_heap",
        "_bids",
        "_buffer",
        "_checksum_fn",
        "_first_after_snapshot",
        "_on_resync",
        "_strict",
        "applied",
        "checksum_failures",
        "gaps",
        "in_sync",
        "last_event_ns",
        "last_reason",
        "last_update_id",
        "max_buffer",
        "max_depth",
        "needs_snapshot",
        "resyncs",
        "sequencing",
        "snapshots",
        "symbol",
        "venue",
    )

    def __init__(
        self,
        venue: str,
        symbol: str,
        *,
        sequencing: Sequencing = "binance",
        strict: bool = False,
        max_buffer: int = 20_000,
        max_depth: int | None = None,
        checksum_fn: Callable[[OrderBook], int] | None = None,
        on_resync: ResyncCallback | None = None,
    ) -> None:
        if sequencing not in ("binance", "none"):
            raise ValidationError("sequencing", sequencing, "must be binance or none")
        self.venue = venue
        self.symbol = symbol
        self.sequencing = sequencing
        self._strict = strict
        self.max_buffer = max_buffer
        self.max_depth = max_depth
        self._checksum_fn = checksum_fn
        self._on_resync = on_resync
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._bid_heap: list[Decimal] = []  # negated prices: heapq is a min-heap
        self._ask_heap: list[Decimal] = []
        self._buffer: deque[BookDelta] = deque(maxlen=max_buffer)
        self._first_after_snapshot = False
        self.last_update_id: int | None = None
        self.in_sync = False
        self.needs_snapshot = True
        self.last_reason = "awaiting first snapshot"
        self.last_event_ns: int | None = None
        # Counters (plain attributes; metrics read them).
        self.applied = 0
        self.snapshots = 0
        self.gaps = 0
        self.resyncs = 0
        self.checksum_failures = 0

    # ------------------------------------------------------------------ applying events

    def apply(self, event: BookSnapshot | BookDelta) -> bool:
        """Apply one event in arrival order. True if the book's levels changed."""
        if event.symbol != self.symbol and event.symbol:
            raise ValidationError(
                "symbol", event.symbol, f"{event.venue} event fed to book of {self.symbol!r}"
            )
        if type(event) is BookDelta:
            return self._on_delta(event)
        if type(event) is BookSnapshot:
            return self._on_snapshot(event)
        raise TypeError(f"OrderBook.apply takes BookSnapshot or BookDelta, not {type(event)}")

    def _on_snapshot(self, snap: BookSnapshot) -> bool:
        self._load(snap)
        self.snapshots += 1
        self.last_update_id = snap.update_id
        self.last_event_ns = snap.recv_ns
        self.needs_snapshot = False
        self.in_sync = True
        self._first_after_snapshot = True
        self.last_reason = ""
        if self.max_depth is not None:
            self._truncate()
        if snap.checksum is not None and not self._checksum_ok(snap.checksum):
            return True
        buffered = self._buffer
        self._buffer = deque(maxlen=self.max_buffer)
        if self.sequencing == "binance" and buffered:
            uid = snap.update_id if snap.update_id is not None else -1
            pending = [d for d in buffered if d.update_id is None or d.update_id > uid]
            first = pending[0].first_update_id if pending else None
            if first is not None and first > uid + 1:
                # The snapshot predates the oldest diff we hold: Binance says fetch again.
                self._buffer.extend(pending)
                self._out_of_sync(
                    f"snapshot lastUpdateId {uid} older than buffered U {first}",
                    keep_buffer=True,
                )
                return True
            buffered = deque(pending)
        elif self.sequencing == "none" and buffered:
            # On one stream a snapshot is newer than every delta that arrived before it: only a
            # delta with a larger update id can add to it (Kraken deltas carry no id at all).
            snap_uid = snap.update_id
            buffered = deque(
                d
                for d in buffered
                if snap_uid is not None and d.update_id is not None and d.update_id > snap_uid
            )
        for delta in buffered:
            self._on_delta(delta)
            if not self.in_sync:
                break
        return True

    def _on_delta(self, delta: BookDelta) -> bool:
        if self.needs_snapshot:
            self._buffer.append(delta)
            return False
        last = self.last_update_id
        uid = delta.update_id
        if self.sequencing == "binance":
            first = delta.first_update_id
            if last is not None and uid is not None and first is not None:
                if uid <= last:
                    return False  # already in the book (or a duplicate)
                if self._first_after_snapshot:
                    if not first <= last + 1 <= uid:
                        self._gap(delta, f"first diff U={first} u={uid} does not cover {last + 1}")
                        return False
                elif first != last + 1:
                    self._gap(delta, f"diff U={first} is not previous u+1={last + 1}")
                    return False
        elif last is not None and uid is not None and uid < last:
            return False  # older than the book (several deltas may share one message id)
        self._first_after_snapshot = False
        self._apply_levels(delta.bids, delta.asks)
        if uid is not None:
            self.last_update_id = uid
        self.last_event_ns = delta.recv_ns
        self.applied += 1
        if self.max_depth is not None:
            self._truncate()
        if delta.checksum is not None:
            self._checksum_ok(delta.checksum)
        return True

    def _apply_levels(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        levels, heap = self._bids, self._bid_heap
        for price, size in bids:
            if size:
                if price not in levels:
                    heappush(heap, -price)
                levels[price] = size
            else:
                levels.pop(price, None)
        if len(heap) > 4 * len(levels) + 256:
            self._bid_heap = [-p for p in levels]
            heapify(self._bid_heap)
        levels, heap = self._asks, self._ask_heap
        for price, size in asks:
            if size:
                if price not in levels:
                    heappush(heap, price)
                levels[price] = size
            else:
                levels.pop(price, None)
        if len(heap) > 4 * len(levels) + 256:
            self._ask_heap = list(levels)
            heapify(self._ask_heap)

    def _load(self, snap: BookSnapshot) -> None:
        self._bids = {p: s for p, s in snap.bids if s}
        self._asks = {p: s for p, s in snap.asks if s}
        self._bid_heap = [-p for p in self._bids]
        heapify(self._bid_heap)
        self._ask_heap = list(self._asks)
        heapify(self._ask_heap)

    def _truncate(self) -> None:
        n = self.max_depth
        assert n is not None
        if len(self._bids) > n:
            keep = nlargest(n, self._bids)
            self._bids = {p: self._bids[p] for p in keep}
            self._bid_heap = [-p for p in keep]
            heapify(self._bid_heap)
        if len(self._asks) > n:
            keep = nsmallest(n, self._asks)
            self._asks = {p: self._asks[p] for p in keep}
            self._ask_heap = list(keep)
            heapify(self._ask_heap)

    def _checksum_ok(self, expected: int) -> bool:
        if self._checksum_fn is None:
            return True
        got = self._checksum_fn(self)
        if got == expected:
            return True
        self.checksum_failures += 1
        self._out_of_sync(f"checksum mismatch: venue {expected}, local {got}")
        return False

    # ------------------------------------------------------------------ sync state

    def _gap(self, delta: BookDelta, reason: str) -> None:
        self.gaps += 1
        self._buffer.append(delta)  # it may be the first diff after the next snapshot
        self._out_of_sync(reason, keep_buffer=True)

    def _out_of_sync(self, reason: str, keep_buffer: bool = False) -> None:
        self.in_sync = False
        self.needs_snapshot = True
        self.last_reason = reason
        self.resyncs += 1
        if not keep_buffer:
            self._buffer.clear()
        if self._on_resync is not None:
            self._on_resync(self, reason)
        if self._strict:
            raise BookOutOfSync(self.venue, self.symbol, reason)

    @property
    def on_resync(self) -> ResyncCallback | None:
        """Called with (book, reason) whenever the book needs a new snapshot."""
        return self._on_resync

    @on_resync.setter
    def on_resync(self, fn: ResyncCallback | None) -> None:
        self._on_resync = fn

    def invalidate(self, reason: str) -> None:
        """Mark the book out of sync from outside (connection lost, connection-level gap)."""
        self._buffer.clear()
        self._out_of_sync(reason)

    # ------------------------------------------------------------------ reading

    def best_bid(self) -> Level | None:
        """(price, size) of the highest bid, or None when the side is empty."""
        heap, levels = self._bid_heap, self._bids
        while heap:
            price = -heap[0]
            size = levels.get(price)
            if size is not None:
                return price, size
            heappop(heap)
        return None

    def best_ask(self) -> Level | None:
        """(price, size) of the lowest ask, or None when the side is empty."""
        heap, levels = self._ask_heap, self._asks
        while heap:
            price = heap[0]
            size = levels.get(price)
            if size is not None:
                return price, size
            heappop(heap)
        return None

    def depth(self, n: int) -> tuple[list[Level], list[Level]]:
        """Best `n` levels per side: (bids descending, asks ascending)."""
        bids = [(p, self._bids[p]) for p in nlargest(n, self._bids)]
        asks = [(p, self._asks[p]) for p in nsmallest(n, self._asks)]
        return bids, asks

    def mid(self) -> Decimal | None:
        """Mid price, or None without both sides."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return (bid[0] + ask[0]) / 2

    def is_crossed(self) -> bool:
        """True when best bid >= best ask (a corrupted or lagging book)."""
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    @property
    def buffered(self) -> int:
        """Deltas held while waiting for a snapshot."""
        return len(self._buffer)

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.venue} {self.symbol} in_sync={self.in_sync} "
            f"last_update_id={self.last_update_id} levels={len(self)})"
        )


__all__ = ["OrderBook", "ResyncCallback", "Sequencing"]
