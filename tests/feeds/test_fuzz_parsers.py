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
from nzeza.feeds.events import BookDelta, BookSnapshot


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
    | st.sampled_from(["-1", "NaN", "1e999999", "0", "1.5", "", "Infinity", " 1", "1_0"]),
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
                assert isinstance(price, Decimal) and price.is_finite() and price >= 0
                assert isinstance(size, Decimal) and size.is_finite() and size >= 0


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
