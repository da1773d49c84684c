"""Slippage estimation: walk the book for a market order of `qty` and say what it would cost.

Units: prices in quote, quantities in base, slippage in basis points, signed so that an adverse
move is positive (a buy paying above the mid, a sell receiving below it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nzeza.domain import Side
from nzeza.domain.booklike import book_side, iter_side
from nzeza.domain.numbers import ZERO, positive
from nzeza.errors import InsufficientLiquidity, ValidationError

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class SlippageEstimate:
    """What a market order of `requested` would do against the book right now."""

    side: Side
    requested: Decimal
    filled_qty: Decimal
    avg_price: Decimal
    worst_price: Decimal  # the last level touched
    mid: Decimal
    touch: Decimal  # best ask for a buy, best bid for a sell
    slippage_bps: Decimal  # vs mid, adverse positive (includes half the spread)
    touch_bps: Decimal  # vs touch, adverse positive (the book's depth cost alone)
    levels: int  # levels consumed, the last possibly partly

    @property
    def notional(self) -> Decimal:
        return self.avg_price * self.filled_qty


def estimate_slippage(book: Any, side: Side | str, qty: Any) -> SlippageEstimate:
    """Walk the opposite side of `book` to fill `qty`. Raises `InsufficientLiquidity` when the
    visible book holds less than `qty`, and `ValidationError` for a bad side, quantity or an
    empty side of the book (no mid to measure against)."""
    try:
        side = Side(side)
    except ValueError:
        raise ValidationError("side", side, "must be buy or sell") from None
    want = positive(qty, "qty")
    bids, asks = book_side(book, "bids", 1), book_side(book, "asks", 1)
    if not bids or not asks:
        raise ValidationError("book", "empty side", "needs both a bid and an ask for a mid")
    mid = (bids[0][0] + asks[0][0]) / 2
    levels = iter_side(book, "asks" if side is Side.BUY else "bids")
    touch = (asks if side is Side.BUY else bids)[0][0]
    remaining, cost, used, worst = want, ZERO, 0, touch
    for price, size in levels:
        if remaining <= 0:
            break
        take = min(size, remaining)
        cost += take * price
        remaining -= take
        used += 1
        worst = price
    if remaining > 0:
        raise InsufficientLiquidity(side.value, want, want - remaining)
    avg = cost / want
    sign = side.sign
    return SlippageEstimate(
        side=side,
        requested=want,
        filled_qty=want,
        avg_price=avg,
        worst_price=worst,
        mid=mid,
        touch=touch,
        slippage_bps=sign * (avg - mid) / mid * BPS,
        touch_bps=sign * (avg - touch) / touch * BPS,
        levels=used,
    )


__all__ = [
    "BPS",
    "SlippageEstimate",
    "estimate_slippage",
]
