"""Connection-level sequence tracking (Coinbase `sequence_num`, dYdX `message_id`).

Sans-I/O: `SequenceTracker.check(n)` returns a `SequenceGap` event when `n` skips ahead of the
previous number + 1, else None. Numbers that go backwards or repeat are counted as `stale`
(a duplicate delivery) and reported to the caller through the return value `False`-y path.
"""

from __future__ import annotations

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


__all__ = ["SequenceTracker"]
