"""Client order ids: deterministic, distinct, valid for every venue's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nzeza.errors import ValidationError
from nzeza.execution.client_ids import CLIENT_ID_RULES, client_order_id, validate_client_id

VENUES = sorted(CLIENT_ID_RULES)


@given(st.text(min_size=1, max_size=40), st.integers(min_value=0, max_value=10**12))
def test_valid_and_deterministic_for_every_venue(session, seq):
    for venue in VENUES:
        cid = client_order_id(session, seq, venue)
        assert CLIENT_ID_RULES[venue][0].match(cid)
        assert client_order_id(session, seq, venue) == cid


@pytest.mark.parametrize("venue", VENUES)
def test_distinct_across_sequences_and_sessions(venue):
    ids = {client_order_id("s1", i, venue) for i in range(2000)}
    ids |= {client_order_id("s2", i, venue) for i in range(2000)}
    assert len(ids) == 4000


def test_known_shapes():
    assert client_order_id("sess", 1, "hyperliquid").startswith("0x")
    assert len(client_order_id("sess", 1, "hyperliquid")) == 34
    assert len(client_order_id("sess", 1, "kraken")) == 32
    assert 0 <= int(client_order_id("sess", 1, "dydx")) < 2**32
    assert len(client_order_id("sess", 1, "binance")) <= 36
    assert client_order_id("sess", "3.1") != client_order_id("sess", "3.2")


@pytest.mark.parametrize(
    ("cid", "venue"),
    [("x" * 37, "binance"), ("a b", "binance"), ("0x12", "hyperliquid"), ("4294967296x", "dydx")],
)
def test_rules_reject(cid, venue):
    with pytest.raises(ValidationError):
        validate_client_id(cid, venue)


def test_bad_inputs_named():
    with pytest.raises(ValidationError) as err:
        client_order_id("", 1)
    assert err.value.field == "session_id"
