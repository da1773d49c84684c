"""Client order ids: deterministic, distinct, valid for every venue's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nzeza.errors import ValidationError
from nzeza.execution.client_ids import (
    CLIENT_ID_RULES,
    ClientIds,
    client_order_id,
    dydx_client_id,
    session_prefix,
    validate_client_id,
)

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


# -- session prefixes and the ledger's id -> session table --------------------------------------
PREFIXED = ["binance", "coinbase", "kraken", "hyperliquid", "paper"]


def test_the_paper_binance_coinbase_form_is_the_one_earlier_ledgers_hold():
    """A session journaled by an earlier version resumes with the same ids and prefix."""
    import hashlib

    digest = hashlib.sha256(b"sess").hexdigest()[:10]
    for venue in ("paper", "binance", "coinbase"):
        assert client_order_id("sess", 12, venue) == f"nz{digest}00000012"
        assert client_order_id("sess", "12.3", venue) == f"nz{digest}00000012-3"
        assert session_prefix("sess", venue) == f"nz{digest}"


@pytest.mark.parametrize("venue", PREFIXED)
@given(
    st.text(min_size=1, max_size=30),
    st.text(min_size=1, max_size=30),
    st.integers(0, 10**9),
    st.integers(0, 500),
)
def test_a_session_recognises_its_own_ids_by_prefix_and_no_other_sessions(
    venue, session, other, seq, child
):
    ids, theirs = ClientIds(session, venue), ClientIds(other, venue)
    for cid in (ids(seq), ids.child(seq, child)):
        assert CLIENT_ID_RULES[venue][0].match(cid)
        assert ids.owns(cid)
        if other != session:
            assert not theirs.owns(cid)


def test_prefixed_ids_never_collide_within_a_session():
    for venue in PREFIXED:
        made = [client_order_id("s", i, venue) for i in range(3000)]
        made += [client_order_id("s", f"{i}.{k}", venue) for i in range(300) for k in range(1, 6)]
        assert len(made) == len(set(made)), venue


def test_dydx_ids_are_claimed_in_the_ledger_and_a_collision_takes_the_next_salt(tmp_path):
    from nzeza.store import Ledger

    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        # another session already holds the id that decision 1 of "mine" would get
        taken = dydx_client_id("mine", 1)
        assert led.claim_client_id("dydx", taken, "theirs", "7") == ("theirs", "7")
        ids = ClientIds("mine", "dydx", led)
        assert ids.prefix is None
        first = ids(1)
        assert first != taken and first == dydx_client_id("mine", 1, salt=1)
        assert 0 <= int(first) < 2**32 and ids.owns(first) and not ids.owns(taken)
        second = ids(2)
        child = ids.child(2, 1)
        # a restarted session (a new generator) knows every id it claimed, and re-derives the
        # same ids for the same decisions (its journaled intents carry them anyway)
        again = ClientIds("mine", "dydx", led)
        assert all(again.owns(c) for c in (first, second, child)) and not again.owns(taken)
        assert again(1) == first and again(2) == second
        assert sorted(led.client_ids("mine", "dydx")) == sorted([first, second, child])
        assert not ClientIds("theirs", "dydx", led).owns(first)


def test_dydx_ids_without_a_ledger_are_the_plain_hash():
    ids = ClientIds("mine", "dydx")
    assert ids(5) == dydx_client_id("mine", 5) == client_order_id("mine", 5, "dydx")
    assert ids.owns(ids(5)) and not ids.owns("123")


@pytest.mark.parametrize("seq", [-1, "a", "1.x", "1.2.3", ""])
def test_bad_sequences_are_named(seq):
    with pytest.raises(ValidationError) as err:
        client_order_id("s", seq, "kraken")
    assert err.value.field == "seq"
