"""A small immutable order book: a snapshot of levels, for tests, benchmarks and paper fills.

The live book is `nzeza.feeds.book.OrderBook`; everything in execution reads books through the
structural protocol of `nzeza.domain.booklike`, so either works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nzeza.errors import ValidationError

Level = tuple[Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class SnapshotBook:
    """Bids (descending) and asks (ascending) of (price, size), validated and uncrossed."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @classmethod
    def from_levels(cls, bids: Iterable[Any], asks: Iterable[Any]) -> SnapshotBook:
        """From (price, size) pairs in any order; zero sizes dropped, sides sorted."""

        def clean(levels: Iterable[Any], side: str) -> list[Level]:
            out = []
            for lvl in levels:
                price, size = Decimal(str(lvl[0])), Decimal(str(lvl[1]))
                if not price.is_finite() or price <= 0 or not size.is_finite() or size < 0:
                    raise ValidationError(f"{side}.level", lvl, "needs a positive price and size")
                if size > 0:
                    out.append((price, size))
            return out

        b = sorted(clean(bids, "bids"), reverse=True)
        a = sorted(clean(asks, "asks"))
        if b and a and b[0][0] >= a[0][0]:
            raise ValidationError("book", (b[0][0], a[0][0]), "is crossed (bid >= ask)")
        return cls(tuple(b), tuple(a))

    @classmethod
    def from_binance_snapshot(cls, snapshot: Mapping[str, Any]) -> SnapshotBook:
        """From a Binance REST depth snapshot `{"lastUpdateId", "bids", "asks"}`."""
        return cls.from_levels(snapshot["bids"], snapshot["asks"])

    def depth(self, n: int) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        return self.bids[:n], self.asks[:n]

    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2


__all__ = [
    "Level",
    "SnapshotBook",
]
