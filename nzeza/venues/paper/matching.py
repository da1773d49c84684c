"""Sans-I/O matching against a book: which (price, quantity) slices an order takes."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from nzeza.domain import Side
from nzeza.domain.numbers import ZERO


def take_liquidity(
    levels: Iterable[tuple[Decimal, Decimal]],
    side: Side,
    qty: Decimal,
    limit: Decimal | None = None,
) -> list[tuple[Decimal, Decimal]]:
    """Walk `levels` (the opposite side, best first) for `qty`, not past `limit` if given.

    Returns (price, quantity) per level touched; the sum may be less than `qty` (partial fill by
    depth). A buy takes asks priced ≤ limit, a sell takes bids priced ≥ limit.
    """
    out: list[tuple[Decimal, Decimal]] = []
    remaining = qty
    for price, size in levels:
        if remaining <= 0:
            break
        if limit is not None and (price > limit if side is Side.BUY else price < limit):
            break
        take = min(size, remaining)
        if take > 0:
            out.append((price, take))
            remaining -= take
    return out


def size_at(levels: Iterable[tuple[Decimal, Decimal]], side: Side, price: Decimal) -> Decimal:
    """The visible size at exactly `price` on an order's own side (`levels` best first): the
    queue ahead of a new order joining that level."""
    for level, size in levels:
        if level == price:
            return size
        if level < price if side is Side.BUY else level > price:
            break  # past it: nobody at that price
    return ZERO


def trades_through(side: Side, limit: Decimal, price: Decimal) -> bool:
    """A public trade at `price` went strictly beyond a resting `side` order's `limit`."""
    return price < limit if side is Side.BUY else price > limit


def filled(slices: list[tuple[Decimal, Decimal]]) -> Decimal:
    return sum((q for _, q in slices), ZERO)


__all__ = [
    "filled",
    "size_at",
    "take_liquidity",
    "trades_through",
]
