"""dYdX v4 orders as Cosmos transactions: MsgPlaceOrder / MsgCancelOrder, signed DIRECT.

What is signed (SIGN_MODE_DIRECT): the protobuf `SignDoc` = (body_bytes, auth_info_bytes,
chain_id, account_number); the signer's sequence is inside auth_info (SignerInfo). The signature
is secp256k1 ECDSA over SHA-256(SignDoc bytes), 64 bytes r‖s with low s. The broadcast form is
`TxRaw` (body_bytes, auth_info_bytes, [signature]).

Order kinds (OrderId.order_flags): 0 short-term (expires at `good_til_block`, at most 20 blocks
ahead), 64 long-term (stateful, expires at `good_til_block_time`, unix seconds), 32 conditional.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2
from v4_proto.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from v4_proto.cosmos.tx.signing.v1beta1.signing_pb2 import SignMode
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import (
    AuthInfo,
    Fee,
    ModeInfo,
    SignDoc,
    SignerInfo,
    TxBody,
    TxRaw,
)
from v4_proto.dydxprotocol.clob.order_pb2 import Order, OrderId
from v4_proto.dydxprotocol.clob.tx_pb2 import MsgCancelOrder, MsgPlaceOrder
from v4_proto.dydxprotocol.subaccounts.subaccount_pb2 import SubaccountId

from nzeza.errors import ValidationError
from nzeza.venues.dydx.keys import DydxKey

SHORT_TERM = 0
CONDITIONAL = 32
LONG_TERM = 64
SHORT_TERM_MAX_BLOCKS = 20
DEFAULT_GAS_LIMIT = 1_000_000


def pack(message: Any) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(message, type_url_prefix="/")  # "/dydxprotocol.clob.MsgPlaceOrder", as Cosmos wants
    return out


def order_id(
    address: str, client_id: int, clob_pair_id: int, flags: int, subaccount: int = 0
) -> OrderId:
    if flags not in (SHORT_TERM, CONDITIONAL, LONG_TERM):
        raise ValidationError("order_flags", flags, "must be 0, 32 or 64")
    if not 0 <= client_id < 2**32:
        raise ValidationError("client_id", client_id, "must be a uint32")
    return OrderId(
        subaccount_id=SubaccountId(owner=address, number=subaccount),
        client_id=client_id,
        order_flags=flags,
        clob_pair_id=clob_pair_id,
    )


def place_order_msg(
    oid: OrderId,
    side: str,
    quantums: int,
    subticks: int,
    *,
    good_til_block: int | None = None,
    good_til_block_time: int | None = None,
    time_in_force: int = Order.TIME_IN_FORCE_UNSPECIFIED,
    reduce_only: bool = False,
) -> MsgPlaceOrder:
    """A MsgPlaceOrder; short-term orders need `good_til_block`, long-term `good_til_block_time`."""
    if oid.order_flags == SHORT_TERM:
        if good_til_block is None or good_til_block_time is not None:
            raise ValidationError(
                "good_til_block", good_til_block, "short-term orders need it alone"
            )
    elif good_til_block_time is None or good_til_block is not None:
        raise ValidationError(
            "good_til_block_time", good_til_block_time, "long-term orders need it alone"
        )
    order = Order(
        order_id=oid,
        side=Order.SIDE_BUY if side == "buy" else Order.SIDE_SELL,
        quantums=quantums,
        subticks=subticks,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
    )
    if good_til_block is not None:
        order.good_til_block = good_til_block
    else:
        order.good_til_block_time = good_til_block_time
    return MsgPlaceOrder(order=order)


def cancel_order_msg(
    oid: OrderId, *, good_til_block: int | None = None, good_til_block_time: int | None = None
) -> MsgCancelOrder:
    msg = MsgCancelOrder(order_id=oid)
    if oid.order_flags == SHORT_TERM:
        msg.good_til_block = good_til_block or 0
    else:
        msg.good_til_block_time = good_til_block_time or 0
    return msg


@dataclass(frozen=True, slots=True)
class SignedTx:
    tx_bytes: bytes  # TxRaw, ready to broadcast
    sign_doc: bytes  # what was signed
    signature: bytes


def build_signed_tx(
    key: DydxKey,
    messages: list[Any],
    *,
    chain_id: str,
    account_number: int,
    sequence: int,
    memo: str = "",
    gas_limit: int = DEFAULT_GAS_LIMIT,
) -> SignedTx:
    """Build TxBody and AuthInfo, sign the SignDoc with `key`, return the TxRaw bytes."""
    body = TxBody(messages=[pack(m) for m in messages], memo=memo)
    auth = AuthInfo(
        signer_infos=[
            SignerInfo(
                public_key=pack(PubKey(key=key.public_key)),
                mode_info=ModeInfo(single=ModeInfo.Single(mode=SignMode.SIGN_MODE_DIRECT)),
                sequence=sequence,
            )
        ],
        fee=Fee(amount=[], gas_limit=gas_limit),
    )
    body_bytes, auth_bytes = body.SerializeToString(), auth.SerializeToString()
    doc = SignDoc(
        body_bytes=body_bytes,
        auth_info_bytes=auth_bytes,
        chain_id=chain_id,
        account_number=account_number,
    ).SerializeToString()
    sig = key.sign(doc)
    raw = TxRaw(body_bytes=body_bytes, auth_info_bytes=auth_bytes, signatures=[sig])
    return SignedTx(raw.SerializeToString(), doc, sig)


@dataclass(frozen=True, slots=True)
class DecodedTx:
    messages: list[Any]
    public_key: bytes
    sequence: int
    signature: bytes
    body_bytes: bytes
    auth_info_bytes: bytes

    def sign_doc(self, chain_id: str, account_number: int) -> bytes:
        return SignDoc(
            body_bytes=self.body_bytes,
            auth_info_bytes=self.auth_info_bytes,
            chain_id=chain_id,
            account_number=account_number,
        ).SerializeToString()


_TYPES = {
    "/dydxprotocol.clob.MsgPlaceOrder": MsgPlaceOrder,
    "/dydxprotocol.clob.MsgCancelOrder": MsgCancelOrder,
}


def decode_tx(tx_bytes: bytes) -> DecodedTx:
    """TxRaw bytes → messages, signer public key and sequence, signature (the node's view)."""
    raw = TxRaw.FromString(tx_bytes)
    body = TxBody.FromString(raw.body_bytes)
    auth = AuthInfo.FromString(raw.auth_info_bytes)
    msgs = []
    for packed in body.messages:
        cls = _TYPES.get(packed.type_url)
        if cls is None:
            raise ValidationError("tx.messages", packed.type_url, "unknown message type")
        m = cls()
        packed.Unpack(m)
        msgs.append(m)
    signer = auth.signer_infos[0]
    pub = PubKey()
    signer.public_key.Unpack(pub)
    return DecodedTx(
        msgs, pub.key, signer.sequence, raw.signatures[0], raw.body_bytes, raw.auth_info_bytes
    )


def verify_signature(public_key: bytes, sign_doc: bytes, signature: bytes) -> bool:
    """secp256k1 ECDSA verify of a 64-byte r‖s over SHA-256(sign_doc), low-s required."""
    import coincurve

    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    if not (0 < r < n and 0 < s <= n // 2):
        return False
    der = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(signature))
    return coincurve.PublicKey(public_key).verify(
        der, sign_doc, hasher=lambda m: hashlib.sha256(m).digest()
    )


__all__ = [
    "CONDITIONAL",
    "DEFAULT_GAS_LIMIT",
    "LONG_TERM",
    "SHORT_TERM",
    "SHORT_TERM_MAX_BLOCKS",
    "DecodedTx",
    "SignedTx",
    "build_signed_tx",
    "cancel_order_msg",
    "decode_tx",
    "order_id",
    "pack",
    "place_order_msg",
    "verify_signature",
]
