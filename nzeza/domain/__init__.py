"""The domain: instruments, orders, fills, positions and the portfolio. Pure, Decimal, no I/O."""

from nzeza.domain.costs import MAKER, MIN_MAKER, TAKER, Costs
from nzeza.domain.fill import Fill
from nzeza.domain.instrument import Instrument
from nzeza.domain.numbers import to_decimal
from nzeza.domain.order import (
    TRANSITIONS,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
    TimeInForce,
    state_diagram,
)
from nzeza.domain.perpetual import MarginTier, Perpetual, funding_payment, liquidation_price
from nzeza.domain.portfolio import Exposure, Portfolio, PortfolioSnapshot
from nzeza.domain.position import Position, PositionSide

__all__ = [
    "MAKER",
    "MIN_MAKER",
    "TAKER",
    "TRANSITIONS",
    "Costs",
    "Exposure",
    "Fill",
    "Instrument",
    "MarginTier",
    "Order",
    "OrderAccepted",
    "OrderCanceled",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderStatus",
    "OrderSubmitted",
    "OrderType",
    "Perpetual",
    "Portfolio",
    "PortfolioSnapshot",
    "Position",
    "PositionSide",
    "Side",
    "TimeInForce",
    "funding_payment",
    "liquidation_price",
    "state_diagram",
    "to_decimal",
]
