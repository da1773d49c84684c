"""Binance's typed hot path gives exactly what the checked reference parser gives.

`binance.parse` decodes the three stream payloads straight into a msgspec struct and builds the
events itself; anything it does not accept goes to `binance.parse_checked`. Held together here on
every real message of a capture and on mutations of real messages: same events, or the same
ParseError (same field).
"""

from __future__ import annotations

import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nzeza.errors import ParseError
from nzeza.feeds import binance
from nzeza.feeds.capture import BINANCE_ETHUSDT, bundled, read_capture

SEEDS: dict[str, str] = {}  # one real message per kind, keyed by its first 40 characters
for _, _raw in read_capture(bundled(BINANCE_ETHUSDT[0])):
    SEEDS.setdefault(_raw[:40], _raw)
    if len(SEEDS) >= 4:
        break
SEEDS["ack"] = '{"result":null,"id":3}'
SEEDS["error"] = '{"code":2,"msg":"Invalid request"}'
KEYS = ["e", "E", "s", "u", "U", "b", "B", "a", "A", "t", "p", "q", "T", "m", "M", "data"]

values = (
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.integers(0, 2**36)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [
            "",
            "1",
            "-1",
            "0.5",
            "NaN",
            "1e5",
            "1e999",
            "0",
            "0.00000000",
            "Infinity",
            "-Infinity",
            "1E-999999999",
            "1E+999999999",
            "0E-999999999",
            " 1",
            "1_0",
            "x",
            "BTCUSDT",
            "trade",
            "depthUpdate",
        ]
    )
    | st.lists(
        st.lists(
            st.sampled_from(["1.0", "-2", "0", 3, None, "NaN", "1E-999999999", "Infinity"]),
            max_size=3,
        ),
        max_size=3,
    )
)


def outcome(parse, raw):
    try:
        return ("events", parse(raw, 7, "ethusdt"))
    except ParseError as err:
        return ("error", err.field)


def test_every_message_of_a_real_capture_parses_the_same_both_ways():
    n = 0
    for _ns, raw in read_capture(bundled(BINANCE_ETHUSDT[0])):
        assert outcome(binance.parse, raw) == outcome(binance.parse_checked, raw), raw[:200]
        n += 1
    print(f"{n} real messages identical on both paths")
    assert n > 30_000


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(sorted(SEEDS.values())),
    edits=st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.sampled_from(["delete", "set", "shift", "shift"]),
            st.none() | values,
            st.integers(-3, 3),
        ),
        max_size=3,
    ),
    bare=st.booleans(),
)
def test_mutated_messages_give_the_same_result_both_ways(seed, edits, bare):
    msg = orjson.loads(seed)
    target = msg.get("data", msg) if isinstance(msg.get("data", msg), dict) else msg
    for key, op, value, shift in edits:
        if op == "delete":
            target.pop(key, None)
        elif op == "set":
            target[key] = value
        else:  # an integer field moved next to another one: U > u, U == u, ids off by one
            ints = sorted(k for k, v in target.items() if type(v) is int)
            if ints:
                target[key] = target[ints[shift % len(ints)]] + shift
    if bare and "data" in msg and isinstance(msg["data"], dict):
        msg = msg["data"]
    raw = json.dumps(msg, separators=(",", ":")).encode()  # big integers are valid JSON
    assert outcome(binance.parse, raw) == outcome(binance.parse_checked, raw)


BAD_NUMBERS = ["0", "0.00000000", "-1", "NaN", "Infinity", "1E-999999999", "1E+999999999"]


def test_bad_prices_and_sizes_give_the_same_named_error_on_both_paths():
    """Every price field (trade p, bookTicker b/a, depth level prices) and every trade size
    refuses non-positive, non-finite and absurd-exponent values, hot path and checked path
    alike, naming the field. Book sizes may be zero (a removed level), never anything else."""
    by_kind = {}
    for raw in SEEDS.values():
        msg = orjson.loads(raw)
        data = msg.get("data", msg)
        if isinstance(data, dict):
            by_kind[data.get("e") or ("bookTicker" if "B" in data else "other")] = msg
    must_be_positive = {"trade": ["p", "q"], "bookTicker": ["b", "a"]}
    for kind, keys in must_be_positive.items():
        for key in keys:
            for bad in BAD_NUMBERS:
                msg = json.loads(json.dumps(by_kind[kind]))
                msg["data"][key] = bad
                raw = json.dumps(msg).encode()
                assert outcome(binance.parse, raw) == outcome(binance.parse_checked, raw)
                assert outcome(binance.parse, raw) == ("error", key), (kind, key, bad)
    depth = by_kind["depthUpdate"]
    for side in ("b", "a"):
        for bad in BAD_NUMBERS:
            msg = json.loads(json.dumps(depth))
            msg["data"][side] = [["60000.01", "1.5"], [bad, "1.0"]]
            raw = json.dumps(msg).encode()
            assert (
                outcome(binance.parse, raw)
                == outcome(binance.parse_checked, raw)
                == (
                    "error",
                    side,
                )
            ), (side, bad)
            msg["data"][side] = [["60000.01", bad]]  # a size: zero removes the level
            raw = json.dumps(msg).encode()
            expected = outcome(binance.parse_checked, raw)
            assert outcome(binance.parse, raw) == expected
            assert (expected[0] == "events") == (bad in ("0", "0.00000000")), (side, bad)
