"""Sequence tracking: connection message numbers, and a bounded window of recent ids.

Sans-I/O: `SequenceTracker.check(n)` returns a `SequenceGap` event when `n` skips ahead of the
previous number + 1 (Coinbase `sequence_num`, dYdX `message_id`), else None. Numbers that go
backwards or repeat are counted as `stale` (a duplicate delivery).

`RecentIds` de-duplicates by id (trade ids) over a sliding window of the last `capacity` ids:
a venue that resends trades after a reconnect (Kraken's and dYdX's subscription snapshots, a
replay resuming a few seconds early) resends recent ones, so a bounded window catches them,
and memory stays constant however long the session runs (a set of every id would grow by
millions a day on BTCUSDT).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

from nzeza.errors import ValidationError
from nzeza.feeds.events import SequenceGap


class SequenceTracker:
    """Expects each connection message number to be the previous one + 1."""

    __slots__ = ("gaps", "last", "stale", "venue")

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.last: int | None = None
        self.gaps = 0
        self.stale = 0

    def check(self, number: int, recv_ns: int | None = None) -> SequenceGap | None:
        """Record `number`; a SequenceGap if numbers were skipped since the last one."""
        last = self.last
        if last is not None and number <= last:
            self.stale += 1
            return None
        self.last = number
        if last is not None and number != last + 1:
            self.gaps += 1
            return SequenceGap(self.venue, last + 1, number, recv_ns)
        return None

    def reset(self) -> None:
        """Forget the last number (a new connection starts a new sequence)."""
        self.last = None


class RecentIds:
    """The last `capacity` ids seen; `add(id)` is True for an id not among them."""

    __slots__ = ("_order", "_seen", "capacity", "duplicates")

    def __init__(self, capacity: int = 100_000) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValidationError("capacity", capacity, "must be a positive integer")
        self.capacity = capacity
        self._seen: set[Hashable] = set()
        self._order: deque[Hashable] = deque()
        self.duplicates = 0

    def add(self, item: Hashable) -> bool:
        """Remember `item`; False (and counted) if it is in the window already."""
        seen = self._seen
        if item in seen:
            self.duplicates += 1
            return False
        seen.add(item)
        order = self._order
        order.append(item)
        if len(order) > self.capacity:
            seen.discard(order.popleft())
        return True

    def __contains__(self, item: Hashable) -> bool:
        return item in self._seen

    def __len__(self) -> int:
        return len(self._order)


__all__ = ["RecentIds", "SequenceTracker"]
