"""What differs between the ccxt exchanges nzeza drives, as data (freqtrade's `_ft_has` idea).

`CAPABILITIES["default"]` says how a typical venue behaves; each venue's entry overrides only
what differs. `ENDPOINT_OF` says which rate-limit budget each ccxt method counts under.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

CAPABILITIES: dict[str, dict[str, Any]] = {
    "default": {
        "options": {},
        # create_order param that carries our client order id
        "client_id_param": "clientOrderId",
        # how to find an order by client id: "param" (fetch_order with `fetch_by_client_id_param`)
        # or "scan" (list recent orders with `scan_methods`, match clientOrderId)
        "lookup_by_client_id": "param",
        "fetch_by_client_id_param": "clientOrderId",
        "scan_methods": ("fetch_open_orders", "fetch_closed_orders"),
        # cancel by client id: "param" (cancel_order with `cancel_client_id_param`) or "resolve"
        # (look the venue order id up first: the venue cancels by its own id only)
        "cancel_by_client_id": "param",
        "cancel_client_id_param": "clientOrderId",
        # False: the create response has no status/fills, so the order is fetched right after
        "create_returns_state": True,
        # market orders that must carry a price: None, "buy" (quote-sized market buys), "all"
        "market_needs_price": None,
        "market_buy_as_ioc_limit": None,  # slippage bound of a market buy sent as an IOC limit
        "market_type": "spot",
        "positions": False,
        "credentials": ("apiKey", "secret"),  # what a live venue must be given
        "methods_off": (),  # ccxt internals replaced by no-ops (see hyperliquid)
        "wallet_from_private_key": False,
        # how my_trades pages: "since" (forward from a time, ascending pages), "from_id"
        # (Binance: a first page from a time, then fromId; one day per window), "offset"
        # (Kraken: newest first, `ofs`), "cursor" (Coinbase: the response's cursor)
        "trades_paging": "since",
        "trades_page": 1000,
        # A stop (a market order sent when the market trades at or through a trigger: a buy
        # stop above the market, a sell stop below) as ccxt's unified trigger order: type
        # `stop_type` with the trigger in the param `stop_param`. None: nzeza refuses stops on
        # the venue before anything is sent, for the reason `stop_refused`.
        "stop_type": None,
        "stop_param": "triggerPrice",
        "stop_refused": "stops are not wired for this venue",
    },
    "binance": {
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "defaultType": "spot",
        },
        "client_id_param": "newClientOrderId",
        "fetch_by_client_id_param": "origClientOrderId",
        "cancel_client_id_param": "origClientOrderId",
        "trades_paging": "from_id",
        "trades_page": 1000,
        # spot: ccxt sends a market order with triggerPrice as STOP_LOSS + stopPrice, which
        # Binance triggers for a buy when the last price rises to the stop, for a sell when it
        # falls to it (and refuses one that would trigger at once)
        "stop_type": "market",
    },
    "binanceusdm": {
        # USDⓈ-M perpetuals: only the linear markets; no spot currencies or margin endpoints
        "options": {
            "fetchMarkets": {"types": ["linear"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "defaultType": "swap",
        },
        "client_id_param": "newClientOrderId",
        "fetch_by_client_id_param": "origClientOrderId",
        "cancel_client_id_param": "origClientOrderId",
        "trades_paging": "from_id",
        "trades_page": 1000,
        "stop_refused": "USDⓈ-M conditional orders (STOP_MARKET) are not simulated here yet "
        "(Binance now takes them on its algo-order endpoint)",
    },
    "coinbase": {
        # Advanced Trade: orders are fetched and cancelled by Coinbase's order id only.
        "options": {"fetchBalance": "v3PrivateGetBrokerageAccounts"},
        "client_id_param": "client_order_id",
        "lookup_by_client_id": "scan",
        "scan_methods": ("fetch_orders",),
        "cancel_by_client_id": "resolve",
        "create_returns_state": False,
        "market_needs_price": "buy",
        # a market buy is sized in quote (an unknown base quantity fills, possibly more than
        # asked): send it as a base-sized IOC limit at the reference price + 2 % instead
        "market_buy_as_ioc_limit": Decimal("0.02"),
        "trades_paging": "cursor",
        "trades_page": 100,
        "stop_refused": "Advanced Trade has stop-limit orders only, no stop-market",
    },
    "kraken": {
        "client_id_param": "cl_ord_id",
        "lookup_by_client_id": "scan",  # QueryOrders needs a txid; Open/ClosedOrders filter
        "cancel_client_id_param": "cl_ord_id",
        "create_returns_state": False,  # AddOrder answers {txid, descr} only
        "trades_paging": "offset",
        "trades_page": 50,  # TradesHistory: 50 a page, newest first
        "stop_refused": "Kraken's stop-loss order type is not simulated here yet",
    },
    "hyperliquid": {
        # Perpetuals; orders are signed with the wallet key (EIP-712 over the L1 action).
        "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap", "refSet": True},
        "client_id_param": "clientOrderId",
        "create_returns_state": False,  # statuses [{"resting": {"oid"}}] carry no order state
        "market_type": "swap",
        "positions": True,
        "market_needs_price": "all",  # a market order is an IOC limit at price ± slippage
        "credentials": ("walletAddress", "privateKey"),
        # The account address of the key when none is given (not for API "agent" wallets,
        # which sign for another account: give that account's walletAddress explicitly).
        "wallet_from_private_key": True,
        # ccxt would sign a builder-fee approval and a referral on the user's account before the
        # first order; nzeza never signs anything the user did not ask for.
        "methods_off": ("handle_builder_fee_approval",),
        "trades_paging": "since",  # userFillsByTime: up to 2000 fills from startTime
        "trades_page": 2000,
        "stop_refused": "trigger orders (tpsl) are not simulated here yet",
    },
}

# ccxt method → the `Venue` endpoint its requests count under (rate limits)
ENDPOINT_OF = {
    "load_markets": "load_markets",
    "create_order": "submit",
    "cancel_order": "cancel",
    "fetch_order": "fetch_order",
    "fetch_open_orders": "open_orders",
    "fetch_closed_orders": "open_orders",
    "fetch_orders": "open_orders",
    "fetch_balance": "balances",
    "fetch_positions": "positions",
    "fetch_my_trades": "my_trades",
    "fetch_funding_history": "my_trades",  # account history, weighted like the trade history
}
DAY_MS = 86_400_000
MAX_TRADE_PAGES = 1000


def capabilities(venue: str) -> dict[str, Any]:
    """The default capabilities updated with `venue`'s own entry."""
    out = dict(CAPABILITIES["default"])
    out.update(CAPABILITIES.get(venue, {}))
    return out


__all__ = ["CAPABILITIES", "DAY_MS", "ENDPOINT_OF", "MAX_TRADE_PAGES", "capabilities"]
