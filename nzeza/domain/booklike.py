"""The structural order-book protocol shared by risk, execution and the paper venue.

Anything works as a book if it has either
- `bids` and `asks`: iterables of (price, size) best first, or mappings price → size (sorted
  here), as attributes or zero-argument methods; or
- `depth(n)`: returning (bids, asks), a mapping with "bids"/"asks", or an object with them.

`nzeza.feeds.book.OrderBook` fits through `depth(n)` or its sides; so does
`nzeza.execution.book.SnapshotBook`. Prices and sizes come back as Decimal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

Level = tuple[Decimal, Decimal]


@runtime_checkable
class SidedBook(Protocol):
    @property
    def bids(self) -> Iterable[tuple[Decimal, Decimal]]: ...

    @property
    def asks(self) -> Iterable[tuple[Decimal, Decimal]]: ...


@runtime_checkable
class DepthBook(Protocol):
    def depth(self, n: int) -> Any: ...


def _pairs(side: Any, reverse: bool) -> Iterator[Level]:
    if callable(side):
        side = side()
    if isinstance(side, Mapping):
        items: Iterable[Any] = sorted(side.items(), key=lambda kv: Decimal(kv[0]), reverse=reverse)
    else:
        items = side
    for level in items:
        price, size = level[0], level[1]
        # Already-Decimal levels (SnapshotBook, the feeds book) pass through unconverted.
        yield (
            price if type(price) is Decimal else Decimal(str(price)),
            size if type(size) is Decimal else Decimal(str(size)),
        )


def iter_side(book: Any, side: str, n: int | None = None) -> Iterator[Level]:
    """Lazily the `side` ("bids" or "asks") of `book`, best first (walks stop early)."""
    if side not in ("bids", "asks"):
        raise ValueError(f"side must be bids or asks, not {side!r}")
    reverse = side == "bids"
    best = getattr(book, "best_bid" if reverse else "best_ask", None)
    if n == 1 and callable(best):  # the feeds OrderBook keeps heaps: the touch is O(1)
        top = best()
        return iter(() if top is None else [_pairs([top], reverse).__next__()])
    raw = getattr(book, side, None)
    if raw is None and hasattr(book, "depth"):
        depth = book.depth(n if n is not None else 1_000_000)
        if isinstance(depth, tuple):
            raw = depth[0] if side == "bids" else depth[1]
        elif isinstance(depth, Mapping):
            raw = depth[side]
        else:
            raw = getattr(depth, side)
    if raw is None:
        raise TypeError(f"{type(book).__name__} has no {side} and no depth(n)")
    return _pairs(raw, reverse)


def book_side(book: Any, side: str, n: int | None = None) -> list[Level]:
    """The `side` ("bids" or "asks") of `book`, best first, at most `n` levels."""
    return list(itertools.islice(iter_side(book, side, n), n))


def top_of_book(book: Any) -> tuple[Level, Level] | None:
    """((best bid, size), (best ask, size)), or None when either side is empty."""
    bids, asks = book_side(book, "bids", 1), book_side(book, "asks", 1)
    if not bids or not asks:
        return None
    return bids[0], asks[0]


__all__ = [
    "DepthBook",
    "Level",
    "SidedBook",
    "book_side",
    "iter_side",
    "top_of_book",
]
