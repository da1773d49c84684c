"""Fuzz: every parser either returns a list of events or raises ParseError — nothing else.

Inputs: random bytes, random JSON values, and mutations of real/documented messages (a field
dropped, a value replaced by a random JSON value, the text truncated).
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from feeds._fixtures import fixture_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nzeza.errors import ParseError
from nzeza.feeds import binance, coinbase, dydx, hyperliquid, kraken
from nzeza.feeds.capture import BINANCE_BTCUSDT, HYPERLIQUID_BTC, bundled, read_capture
from nzeza.feeds.events import BookDelta, BookSnapshot, Trade


def _first_lines(name: str, n: int) -> list[str]:
    out = []
    for _, raw in read_capture(bundled(name)):
        out.append(raw)
        if len(out) >= n:
            break
    return out


SEEDS = {
    "binance": (binance.parse, _first_lines(BINANCE_BTCUSDT[0], 12)),
    "coinbase": (coinbase.parse, fixture_lines("coinbase_advanced.jsonl")),
    "kraken": (kraken.parse, fixture_lines("kraken_v2.jsonl")),
    "dydx": (dydx.parse, fixture_lines("dydx_v4.jsonl")),
    "hyperliquid": (hyperliquid.parse, _first_lines(HYPERLIQUID_BTC, 4)),
    "coinbase-stateful": (
        coinbase.CoinbaseParser().parse,
        fixture_lines("coinbase_advanced.jsonl"),
    ),
    "dydx-stateful": (dydx.DydxParser().parse, fixture_lines("dydx_v4.jsonl")),
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        ["-1", "NaN", "1e999999", "0", "1.5", "", "Infinity", " 1", "1_0", "1E-999999999"]
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _check(parse, raw) -> None:
    try:
        events = parse(raw)
    except ParseError as exc:
        assert exc.venue and exc.field
        return
    assert isinstance(events, list)
    for ev in events:
        if isinstance(ev, (BookSnapshot, BookDelta)):
            for price, size in ev.bids + ev.asks:
                assert _sane(price) and price > 0
                assert _sane(size) and size >= 0
        elif isinstance(ev, Trade):
            assert _sane(ev.price) and ev.price > 0 and _sane(ev.size) and ev.size > 0


def _sane(value) -> bool:
    """A finite Decimal within the parsers' bounds (arithmetic on it cannot under/overflow)."""
    return (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.as_tuple().exponent >= -30
        and value.adjusted() <= 30
    )


def _mutate(obj, path_choice: int, value):
    """Replace or drop one node of a JSON tree, chosen by index in a pre-order walk."""
    nodes = []

    def walk(node, parent, key):
        nodes.append((parent, key))
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, node, k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, node, i)

    walk(obj, None, None)
    parent, key = nodes[path_choice % len(nodes)]
    if parent is None:
        return {} if value is _DROP else value
    if value is _DROP:
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    else:
        parent[key] = value
    return obj


_DROP = object()
VENUES = sorted(SEEDS)


@pytest.mark.parametrize("venue", VENUES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200))
def test_random_bytes(venue, data):
    _check(SEEDS[venue][0], data)


@pytest.mark.parametrize("venue", VENUES)
@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_random_json(venue, value):
    _check(SEEDS[venue][0], json.dumps(value))


@pytest.mark.parametrize("venue", VENUES)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    idx=st.integers(0, 100),
    where=st.integers(0, 10_000),
    value=st.one_of(st.just(_DROP), json_values),
    cut=st.integers(0, 100),
)
def test_mutated_real_messages(venue, idx, where, value, cut):
    parse, seeds = SEEDS[venue]
    raw = seeds[idx % len(seeds)]
    obj = json.loads(raw)
    mutated = _mutate(obj, where, value)
    text = json.dumps(mutated)
    _check(parse, text)
    _check(parse, text[: max(1, len(text) * cut // 100)])


# -- bad prices and sizes stop at the edge -----------------------------------------------------
# One trade message per venue, in its real shape, with the price and size as placeholders; the
# field names are the venue's own (what the ParseError must name).
TRADE_TEMPLATES = {
    "binance": (
        binance.parse,
        '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,'
        '"p":PRICE,"q":SIZE,"T":1,"m":true,"M":true}}',
        ("p", "q"),
    ),
    "binance-checked": (
        binance.parse_checked,
        '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,'
        '"p":PRICE,"q":SIZE,"T":1,"m":true,"M":true}}',
        ("p", "q"),
    ),
    "coinbase": (
        coinbase.parse,
        '{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z",'
        '"sequence_num":4,"events":[{"type":"update","trades":[{"trade_id":"7",'
        '"product_id":"BTC-USD","price":PRICE,"size":SIZE,"side":"BUY",'
        '"time":"2019-08-14T20:42:27.265Z"}]}]}',
        ("price", "size"),
    ),
    "kraken": (
        kraken.parse,
        '{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy",'
        '"price":PRICE,"qty":SIZE,"ord_type":"limit","trade_id":7,'
        '"timestamp":"2023-09-25T07:48:36.925533Z"}]}',
        ("price", "qty"),
    ),
    "hyperliquid": (
        hyperliquid.parse,
        '{"channel":"trades","data":[{"coin":"BTC","side":"B","px":PRICE,"sz":SIZE,'
        '"hash":"0x0","time":1,"tid":7,"users":["a","b"]}]}',
        ("px", "sz"),
    ),
    "dydx": (
        dydx.parse,
        '{"type":"channel_data","connection_id":"c","message_id":4,"id":"BTC-USD",'
        '"channel":"v4_trades","version":"1.1.0","contents":{"trades":[{"id":"7",'
        '"size":SIZE,"price":PRICE,"side":"BUY","createdAt":"2023-04-04T00:29:19.353Z"}]}}',
        ("price", "size"),
    ),
}
BAD_VALUES = [
    "0",
    "0.00000000",
    "-1",
    "-0.5",
    "NaN",
    "Infinity",
    "-Infinity",
    "1E-999999999",
    "1E+999999999",
    "0E-999999999",
    "1e-31",
    "1" + "0" * 32,
]


def _trade_text(venue: str, price: str, size: str) -> str:
    _, template, _ = TRADE_TEMPLATES[venue]
    # Kraken sends JSON numbers; everyone else decimal text in strings. Kraken's NaN/Infinity
    # are the bare tokens a JSON encoder writes for them.
    quote = (lambda v: v) if venue == "kraken" else (lambda v: f'"{v}"')
    return template.replace("PRICE", quote(price)).replace("SIZE", quote(size))


@pytest.mark.parametrize("venue", sorted(TRADE_TEMPLATES))
@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("where", [0, 1], ids=["price", "size"])
def test_a_bad_trade_price_or_size_is_refused_naming_the_field(venue, bad, where):
    parse, _, fields = TRADE_TEMPLATES[venue]
    good = "61837.63" if where else "0.02"
    price, size = (good, bad) if where else (bad, good)
    with pytest.raises(ParseError) as err:
        parse(_trade_text(venue, price, size))
    assert err.value.venue == venue.split("-")[0] and err.value.field == fields[where]


@pytest.mark.parametrize("venue", sorted(TRADE_TEMPLATES))
@settings(max_examples=150, deadline=None)
@given(value=st.decimals(allow_nan=True, allow_infinity=True), as_fixed=st.booleans())
def test_any_decimal_is_either_the_trade_price_or_a_named_error(venue, value, as_fixed):
    """Property: a price is accepted exactly when it is finite, positive and within the bounds
    (at most 30 fractional digits, below 10^31), and then it is the Decimal of the wire text."""
    parse, _, fields = TRADE_TEMPLATES[venue]
    if value.is_nan():
        text = "NaN"
    elif value.is_finite() and as_fixed:
        text = format(value, "f")
    else:
        text = str(value)
    valid = (
        value.is_finite()
        and value > 0
        and value.as_tuple().exponent >= -30
        and value.adjusted() <= 30
    )
    try:
        events = parse(_trade_text(venue, text, "1"))
    except ParseError as err:
        assert not valid, (text, err)
        assert err.field == fields[0], (text, err)
        return
    assert valid, text
    [trade] = events
    assert isinstance(trade, Trade) and trade.price == value and trade.size == 1
