"""What the risk engine hands back: a decision and the context it judged against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from nzeza.domain import Order, PortfolioSnapshot
from nzeza.domain.intent import OrderIntent
from nzeza.errors import RiskRejected


class Action(StrEnum):
    ACCEPT = "accept"  # send `intent` as is
    AMEND = "amend"  # send the amended `intent` (e.g. market switched to a limit at the band)
    TWAP = "twap"  # too large for the book now: hand `intent` to the TWAP executor
    REJECT = "reject"  # do not send; `rejection` says why


@dataclass(frozen=True, slots=True)
class RiskContext:
    """Everything a check may look at, as values. `now_ns` is the injected clock (UTC ns).

    `book` is the live order book of the intent's instrument (anything with best-first `bids`
    and `asks` of (price, size), or a `depth(n)` method); `reference_prices` are the prices the
    price band is measured against (defaults to `marks`).
    """

    portfolio: PortfolioSnapshot
    marks: Mapping[str, Decimal]
    now_ns: int
    open_orders: Sequence[Order] = ()
    book: Any = None
    reference_prices: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `RiskEngine.check`.

    `intent` is what to send (amended when `action` is AMEND); `rejection` is set exactly when
    `action` is REJECT; `slippage` is the estimate the slippage check made, if it ran;
    `checks` lists the checks that ran, in order; `flatten` holds reduce-only intents that
    close every position when the daily-loss breaker tripped with flattening on;
    `max_child_qty` is, for a TWAP decision made by a size limit, the largest quantity one
    child order may have (base units); `resized` holds the size limits an AMEND or TWAP
    decision was made by (each breach as the rejection it would have been).
    """

    action: Action
    intent: OrderIntent
    rejection: RiskRejected | None = None
    slippage: Any = None
    checks: tuple[str, ...] = ()
    flatten: tuple[OrderIntent, ...] = ()
    max_child_qty: Decimal | None = None
    resized: tuple[RiskRejected, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.action is not Action.REJECT


__all__ = [
    "Action",
    "Decision",
    "RiskContext",
]
