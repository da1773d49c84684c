"""Coinbase Advanced Trade parser, sequence gaps and the ES256 JWT."""

from __future__ import annotations

import base64
import json
from decimal import Decimal as D

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from feeds._fixtures import fixture_lines

from nzeza.errors import ParseError, ValidationError
from nzeza.feeds import coinbase
from nzeza.feeds.book import OrderBook
from nzeza.feeds.events import (
    BookDelta,
    BookSnapshot,
    Heartbeat,
    SequenceGap,
    SubscriptionAck,
    Ticker,
    Trade,
)

LINES = fixture_lines("coinbase_advanced.jsonl")


def test_level2_snapshot_and_update_build_a_book():
    events = [ev for line in LINES for ev in coinbase.parse(line)]
    kinds = [type(e) for e in events]
    assert kinds == [
        SubscriptionAck,
        SubscriptionAck,
        BookSnapshot,
        BookDelta,
        Ticker,
        Trade,
        Heartbeat,
    ]
    snap, delta = events[2], events[3]
    assert snap.update_id == 1 and snap.bids[0] == (D("21921.73"), D("0.06317902"))
    assert snap.ts_ns == 1675974770714964855  # nanosecond timestamp kept exactly
    book = OrderBook("coinbase", "BTC-USD", sequencing="none")
    book.apply(snap)
    book.apply(delta)
    assert book.best_bid() == (D("21921.3"), D("0.02"))
    assert book.best_ask() == (D("21921.74"), D("0.25"))
    trade = events[5]
    assert (
        trade.side == "buy" and trade.price == D("1260.01") and trade.ts_ns == 1565815347265000000
    )
    assert events[4].bid_price == D("21931.98")


def test_sequence_gap_is_reported_by_the_stateful_parser():
    p = coinbase.CoinbaseParser()
    for line in LINES[:2]:
        assert not any(isinstance(e, SequenceGap) for e in p.parse(line))
    out = p.parse(LINES[4])  # sequence_num 3 skipped from 1 to... 4
    assert out[0] == SequenceGap("coinbase", 2, 4, None)
    assert p.sequence.gaps == 1


def test_unknown_channel_and_bad_side_are_parse_errors():
    with pytest.raises(ParseError) as err:
        coinbase.parse('{"channel":"nope","events":[]}')
    assert err.value.field == "channel"
    bad = LINES[2].replace('"side":"bid"', '"side":"middle"')
    with pytest.raises(ParseError) as err:
        coinbase.parse(bad)
    assert err.value.field == "side"


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_jwt_is_a_valid_es256_token():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    token = coinbase.build_jwt("organizations/o/apiKeys/k", pem, now=1_700_000_000)
    head, body, sig = token.split(".")
    header, claims = json.loads(_b64d(head)), json.loads(_b64d(body))
    assert header["alg"] == "ES256" and header["kid"] == "organizations/o/apiKeys/k"
    assert claims == {
        "iss": "cdp",
        "nbf": 1_700_000_000,
        "exp": 1_700_000_120,
        "sub": "organizations/o/apiKeys/k",
    }
    raw = _b64d(sig)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.public_key().verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    msg = coinbase.subscribe_message("user", ["BTC-USD"], jwt=token)
    assert msg["jwt"] == token and msg["type"] == "subscribe"
    with pytest.raises(ValueError, match="private"):
        coinbase.subscribe_message("user", ["BTC-USD"])
    with pytest.raises(ValidationError) as err:
        coinbase.build_jwt("k", "-----BEGIN EC PRIVATE KEY-----\nsecretstuff")
    assert err.value.field == "private_key_pem" and "secretstuff" not in str(err.value)
