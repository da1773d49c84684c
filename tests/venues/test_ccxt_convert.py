"""ccxt's unified dicts → nzeza's types, without an exchange: every field the venue must send
is named when missing, nothing is guessed, a rebate is a negative fee."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nzeza.domain import OrderStatus, OrderType, Side
from nzeza.errors import VenueError
from nzeza.venues.base import OrderRequest
from nzeza.venues.ccxt.convert import (
    to_balances,
    to_fill,
    to_instrument,
    to_order,
    to_position,
)

MARKET = {
    "base": "BTC",
    "quote": "USDT",
    "precision": {"price": 0.01, "amount": 0.00001},
    "limits": {"amount": {"min": 0.00001}, "cost": {"min": 5}},
}
ORDER = {
    "id": "42",
    "clientOrderId": "nzabc-1",
    "status": "open",
    "side": "buy",
    "type": "limit",
    "amount": 0.5,
    "filled": 0.2,
    "price": 100.5,
    "average": 100.4,
    "timestamp": 1_700_000_000_000,
}
TRADE = {
    "id": "t1",
    "order": "42",
    "side": "sell",
    "amount": 0.1,
    "price": 101.0,
    "timestamp": 1_700_000_000_500,
    "fee": {"cost": -0.002, "currency": "USDT"},
}


def test_market_to_instrument_keeps_exact_ticks_and_minimums() -> None:
    inst = to_instrument("binance", "BTC/USDT", MARKET)
    assert inst is not None and inst.id == "binance:BTC/USDT"
    assert inst.tick_size == Decimal("0.01") and inst.lot_size == Decimal("0.00001")
    assert inst.min_notional == Decimal(5)
    no_precision = {**MARKET, "precision": {"price": None, "amount": 0.1}}
    assert to_instrument("binance", "BTC/USDT", no_precision) is None


def test_an_open_order_with_fills_is_partially_filled() -> None:
    view = to_order("binance", ORDER, "binance:BTC/USDT", "nzabc-1")
    assert view.status is OrderStatus.PARTIALLY_FILLED
    assert (view.side, view.type) == (Side.BUY, OrderType.LIMIT)
    assert view.quantity == Decimal("0.5") and view.filled_qty == Decimal("0.2")
    assert view.ts == 1_700_000_000_000 * 1_000_000


@pytest.mark.parametrize("field", ["status", "side", "type", "amount", "timestamp"])
def test_an_order_missing_a_field_is_a_bad_response_naming_it(field: str) -> None:
    broken = {k: v for k, v in ORDER.items() if k != field}
    with pytest.raises(VenueError, match=f"has no {field}") as err:
        to_order("binance", broken, "binance:BTC/USDT", "nzabc-1")
    assert err.value.code == "bad_response"


def test_what_we_sent_fills_in_a_terse_create_response() -> None:
    request = OrderRequest("nzabc-2", "hyperliquid:BTC/USDC:USDC", Side.BUY, Decimal("0.01"))
    terse = {"id": "9", "status": "open", "timestamp": 1}
    view = to_order("hyperliquid", terse, request.instrument_id, "nzabc-2", request)
    assert view.type is OrderType.MARKET and view.quantity == Decimal("0.01")
    with pytest.raises(VenueError, match="unknown order status"):
        to_order("binance", {**ORDER, "status": "weird"}, "binance:BTC/USDT", "c")


def test_a_trade_is_a_fill_and_a_rebate_stays_negative() -> None:
    fill = to_fill("binance", TRADE, "binance:BTC/USDT", "nzabc-1")
    assert fill.fee == Decimal("-0.002") and fill.side is Side.SELL
    assert fill.order_id == "nzabc-1" and fill.ts == 1_700_000_000_500 * 1_000_000
    with pytest.raises(VenueError, match="not a valid fill") as err:
        to_fill("binance", {**TRADE, "price": 0}, "binance:BTC/USDT", "nzabc-1")
    assert err.value.retryable is False


def test_balances_and_positions() -> None:
    b = to_balances({"total": {"USDT": 100.0, "BTC": None}, "free": {"USDT": 60.0}})
    assert set(b) == {"USDT"} and b["USDT"].free == Decimal(60)
    assert b["USDT"].used == Decimal(40) and b["USDT"].total == Decimal(100)
    p = to_position("dydx", {"symbol": "BTC/USD:USD", "contracts": 2, "side": "short"})
    assert p.quantity == Decimal(-2) and p.entry_price is None
