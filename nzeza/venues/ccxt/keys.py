"""Key material a ccxt venue derives from what the operator gives (Hyperliquid's wallet)."""

from __future__ import annotations

from nzeza.errors import ConfigError


def eth_address(private_key_hex: str) -> str:
    """The Ethereum address (lowercase 0x…) of a secp256k1 private key given in hex."""
    import ccxt
    import coincurve  # ccxt's own secp256k1 dependency

    try:
        key = coincurve.PrivateKey(bytes.fromhex(private_key_hex.removeprefix("0x")))
    except ValueError:
        raise ConfigError("privateKey", "is not 32 bytes of hex") from None
    digest = ccxt.Exchange.hash(key.public_key.format(compressed=False)[1:], "keccak", "hex")
    return "0x" + digest[-40:]


__all__ = ["eth_address"]
