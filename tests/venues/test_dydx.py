"""dYdX v4 offline: published address vectors, exact quantums/subticks, signed txs, node stub."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from support.sim.dydx import BTC_USD, DydxStub

from nzeza.errors import ValidationError
from nzeza.secrets import clear_secrets
from nzeza.venues import OrderRequest
from nzeza.venues.dydx import (
    DydxKey,
    MarketParams,
    address_from_mnemonic,
    from_quantums,
    from_subticks,
    to_quantums,
    to_subticks,
)
from nzeza.venues.dydx.tx import (
    LONG_TERM,
    SHORT_TERM,
    build_signed_tx,
    cancel_order_msg,
    decode_tx,
    order_id,
    place_order_msg,
    verify_signature,
)
from nzeza.venues.dydx.venue import DydxVenue

D = Decimal
# dydxprotocol/v4-clients v4-client-py-v2/tests/conftest.py (DYDX_TEST_MNEMONIC, TEST_ADDRESS,
# DYDX_TEST_PRIVATE_KEY) and dydxprotocol/v4-chain e2e-testing/__tests__/helpers/constants.ts.
TEST_MNEMONIC = (
    "mirror actor skill push coach wait confirm orchard lunch mobile athlete gossip awake "
    "miracle matter bus reopen team ladder lazy list timber render wait"
)
VECTORS = [
    (TEST_MNEMONIC, "dydx14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art"),
    (
        "merge panther lobster crazy road hollow amused security before critic about cliff "
        "exhibit cause coyote talent happy where lion river tobacco option coconut small",
        "dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4",
    ),
    (
        "color habit donor nurse dinosaur stable wonder process post perfect raven gold census "
        "inside worth inquiry mammal panic olive toss shadow strong name drum",
        "dydx10fx7sy6ywd5senxae9dwytf8jxek3t2gcen2vs",
    ),
]
BTC = MarketParams.from_indexer(BTC_USD)


@pytest.mark.parametrize(("mnemonic", "address"), VECTORS)
def test_addresses_match_published_vectors(mnemonic, address):
    assert address_from_mnemonic(mnemonic) == address


def test_private_key_matches_the_published_vector_and_never_prints():
    key = DydxKey.from_mnemonic(SecretStr(TEST_MNEMONIC))
    assert key._pk.private_key_hex == (
        "e92a6595c934c991d3b3e987ea9b3125bf61a076deab3a9cb519787b7b3e8d77"
    )
    assert "e92a6595" not in repr(key) and "mirror" not in repr(key)
    with pytest.raises(ValidationError) as err:
        address_from_mnemonic("only three words")
    assert "three" not in str(err.value)


def test_quantums_and_subticks_exact():
    assert BTC.step_size == D("0.0001") and BTC.tick_size == D(1)
    assert to_quantums(D("0.0003"), BTC) == 3_000_000
    # The float formula of the clients gets this one wrong (floors 2999999.9999999995).
    assert math.floor(0.0003 * 10**10 / 1_000_000) * 1_000_000 == 2_000_000
    assert to_quantums(D("0.00039"), BTC) == 3_000_000  # rounds down to the step
    assert to_subticks(D(60000), BTC) == 6_000_000_000
    assert to_subticks(D("60000.9"), BTC) == 6_000_000_000
    with pytest.raises(ValidationError) as err:
        to_quantums(D("0.00009"), BTC)  # below one step: rejected, not enlarged
    assert err.value.field == "size"
    with pytest.raises(ValidationError) as err:
        to_subticks(D("0.5"), BTC)
    assert err.value.field == "price"


@given(st.integers(min_value=1, max_value=10**7), st.integers(min_value=1, max_value=10**6))
def test_round_trip_on_grid(steps, ticks):
    size, price = BTC.step_size * steps, BTC.tick_size * ticks
    assert from_quantums(to_quantums(size, BTC), BTC) == size
    assert from_subticks(to_subticks(price, BTC), BTC) == price


@pytest.mark.parametrize("flags", [SHORT_TERM, LONG_TERM])
def test_signed_tx_decodes_to_the_same_order_and_verifies(flags):
    key = DydxKey.from_mnemonic(TEST_MNEMONIC)
    oid = order_id(key.address, 12345, BTC.clob_pair_id, flags)
    gtb = {"good_til_block": 1020} if flags == SHORT_TERM else {"good_til_block_time": 1723161314}
    msg = place_order_msg(oid, "sell", 3_000_000, 6_000_000_000, reduce_only=True, **gtb)
    signed = build_signed_tx(key, [msg], chain_id="dydx-testnet-4", account_number=7, sequence=3)
    tx = decode_tx(signed.tx_bytes)
    assert tx.messages == [msg] and tx.sequence == 3 and tx.public_key == key.public_key
    order = tx.messages[0].order
    assert order.order_id.order_flags == flags and order.side == 2 and order.reduce_only
    assert tx.sign_doc("dydx-testnet-4", 7) == signed.sign_doc
    assert verify_signature(tx.public_key, tx.sign_doc("dydx-testnet-4", 7), tx.signature)
    # Any other chain, account number or a different key does not verify.
    assert not verify_signature(tx.public_key, tx.sign_doc("dydx-mainnet-1", 7), tx.signature)
    assert not verify_signature(tx.public_key, tx.sign_doc("dydx-testnet-4", 8), tx.signature)
    other = DydxKey.from_mnemonic(VECTORS[1][0])
    assert not verify_signature(other.public_key, signed.sign_doc, tx.signature)


def test_signature_is_independently_valid_with_ecdsa():
    import hashlib

    import ecdsa

    key = DydxKey.from_mnemonic(TEST_MNEMONIC)
    msg = cancel_order_msg(order_id(key.address, 1, 0, LONG_TERM), good_til_block_time=99)
    signed = build_signed_tx(key, [msg], chain_id="c", account_number=1, sequence=0)
    vk = ecdsa.VerifyingKey.from_string(key.public_key, curve=ecdsa.SECP256k1)
    assert vk.verify(signed.signature, signed.sign_doc, hashfunc=hashlib.sha256)


def test_order_kinds_are_validated():
    key = DydxKey.from_mnemonic(TEST_MNEMONIC)
    with pytest.raises(ValidationError):
        place_order_msg(order_id(key.address, 1, 0, SHORT_TERM), "buy", 1, 1, good_til_block_time=5)
    with pytest.raises(ValidationError):
        place_order_msg(order_id(key.address, 1, 0, LONG_TERM), "buy", 1, 1, good_til_block=5)
    with pytest.raises(ValidationError):
        order_id(key.address, 2**32, 0, LONG_TERM)


def test_venue_against_local_node_and_indexer_stub():
    async def main():
        stub = DydxStub(chain_id="dydx-testnet-4")
        url = await stub.start()
        try:
            v = DydxVenue(TEST_MNEMONIC, node_url=url, indexer_url=url, chain_id="dydx-testnet-4")
            stub.add_account(v.address, account_number=7, sequence=4)
            markets = await v.load_markets()
            inst = markets["dydx:BTC-USD"]
            assert inst.tick_size == D(1) and inst.lot_size == D("0.0001")
            req = OrderRequest("123456", inst.id, "buy", D("0.0003"), "limit", D(60000))
            order = await v.submit(req)
            assert order.client_order_id == "123456" and order.status.value == "filled"
            assert stub.accounts[v.address]["sequence"] == 5  # the node accepted the signature
            assert stub.broadcasts[0]["mode"] == "BROADCAST_MODE_SYNC"
            assert (
                stub.orders[0]["orderFlags"] == str(LONG_TERM)
                and stub.orders[0]["size"] == "0.0003"
            )
            ioc = OrderRequest("77", inst.id, "sell", D("0.0001"), "limit", D(59000), "ioc")
            await v.submit(ioc)
            assert stub.orders[1]["orderFlags"] == str(SHORT_TERM)
            assert stub.orders[1]["goodTilBlock"] == str(1001 + 20)
            fills = await v.my_trades(inst.id)
            assert [(f.order_id, f.quantity, f.price) for f in fills] == [
                ("123456", D("0.0003"), D(60000)),
                ("77", D("0.0001"), D(59000)),
            ]
            # The same fills reach the updates stream once each (the indexer is polled).
            v.drain_updates()
            assert [f.order_id for f in await v.poll_fills(inst.id)] == ["123456", "77"]
            assert await v.poll_fills(inst.id) == [] and len(v.drain_updates()) == 2
            bal = await v.balances()
            assert bal["USDC"].total == D(10000)
            # A wrong chain id is refused by the node's signature check.
            bad = DydxVenue(TEST_MNEMONIC, node_url=url, indexer_url=url, chain_id="dydx-mainnet-1")
            await bad.load_markets()
            from nzeza.errors import VenueError

            with pytest.raises(VenueError) as err:
                await bad.submit(OrderRequest("5", inst.id, "buy", D("0.0001"), "limit", D(1)))
            assert "signature" in str(err.value) and not err.value.retryable
            await bad.close()
            await v.close()
        finally:
            await stub.stop()

    asyncio.run(main())
    clear_secrets()


def test_a_post_only_order_goes_out_post_only_and_a_stop_is_refused():
    """The order policy's kinds reach dYdX as what they are, or are refused before anything is
    signed or sent (a dYdX stop is a conditional order; sent as a limit it would trade)."""
    from nzeza.errors import VenueError

    async def main():
        stub = DydxStub(chain_id="dydx-testnet-4")
        url = await stub.start()
        try:
            v = DydxVenue(TEST_MNEMONIC, node_url=url, indexer_url=url, chain_id="dydx-testnet-4")
            stub.add_account(v.address, account_number=7, sequence=4)
            inst = (await v.load_markets())["dydx:BTC-USD"]
            req = OrderRequest("31", inst.id, "buy", D("0.0003"), "limit", D(1000), "post_only")
            await v.submit(req)
            assert stub.orders[-1]["timeInForce"] == "POST_ONLY"
            assert stub.orders[-1]["orderFlags"] == str(LONG_TERM)
            sent = len(stub.broadcasts)
            with pytest.raises(VenueError) as err:
                await v.submit(OrderRequest("32", inst.id, "buy", D("0.0003"), "stop", D(70000)))
            assert err.value.code == "unsupported_order" and not err.value.retryable
            assert "dydx" in str(err.value) and "stop" in str(err.value)
            assert len(stub.broadcasts) == sent  # nothing signed or sent
            await v.close()
        finally:
            await stub.stop()

    asyncio.run(main())
    clear_secrets()


def test_live_endpoints_must_be_https_and_the_chain_id_is_required():
    from nzeza.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        DydxVenue(
            TEST_MNEMONIC,
            node_url="http://node.example",
            indexer_url="https://indexer.example",
            chain_id="dydx-mainnet-1",
            live=True,
        )
    assert err.value.variable == "dydx.node_url"
    with pytest.raises(ConfigError) as err:
        DydxVenue(TEST_MNEMONIC, node_url="https://n", indexer_url="https://i", chain_id="")
    assert err.value.variable == "dydx.chain_id" and "mirror" not in str(err.value)
    v = DydxVenue(
        TEST_MNEMONIC,
        node_url="https://n",
        indexer_url="https://i",
        chain_id="dydx-mainnet-1",
        live=True,
    )
    assert "mirror" not in repr(v)
    clear_secrets()
