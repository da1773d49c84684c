"""dYdX v4 keys: a Cosmos secp256k1 key from a BIP39 mnemonic, addresses in bech32 `dydx`.

Derivation path m/44'/118'/0'/0/0 (coin type 118, the Cosmos one), exactly as the official
v4 clients do. The private key never leaves `DydxKey`; its repr shows only the address.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from nzeza.errors import ValidationError
from nzeza.secrets import register_secret

HD_PATH = "m/44'/118'/0'/0/0"
PREFIX = "dydx"


def _words(mnemonic: str | SecretStr) -> str:
    raw = mnemonic.get_secret_value() if isinstance(mnemonic, SecretStr) else mnemonic
    if not isinstance(raw, str) or len(raw.split()) not in (12, 15, 18, 21, 24):
        raise ValidationError("mnemonic", "(hidden)", "must be a BIP39 phrase of 12-24 words")
    register_secret(raw)  # from here on, no message can print it
    return " ".join(raw.split())


class DydxKey:
    """A signing key and its dYdX address. `sign(sign_doc_bytes)` → 64-byte r‖s (low-s)."""

    def __init__(self, private_key: Any) -> None:
        from cosmpy.crypto.address import Address

        self._pk = private_key  # cosmpy PrivateKey
        register_secret(private_key.private_key_hex)
        self.public_key: bytes = private_key.public_key.public_key_bytes  # 33-byte compressed
        self.address = str(Address(private_key.public_key, prefix=PREFIX))

    @classmethod
    def from_mnemonic(cls, mnemonic: str | SecretStr) -> DydxKey:
        from cosmpy.crypto.keypairs import PrivateKey
        from cosmpy.mnemonic import derive_child_key_from_mnemonic

        child = derive_child_key_from_mnemonic(_words(mnemonic), path=HD_PATH)
        return cls(PrivateKey(child))

    def sign(self, message: bytes) -> bytes:
        """ECDSA secp256k1 over SHA-256(message), deterministic (RFC 6979), canonical low-s."""
        return self._pk.sign(message, deterministic=True, canonicalise=True)

    def __repr__(self) -> str:
        return f"DydxKey(address={self.address!r})"

    __str__ = __repr__


def address_from_mnemonic(mnemonic: str | SecretStr) -> str:
    """The dYdX v4 address (bech32 `dydx1…`) of a BIP39 mnemonic."""
    return DydxKey.from_mnemonic(mnemonic).address


__all__ = [
    "HD_PATH",
    "PREFIX",
    "DydxKey",
    "address_from_mnemonic",
]
