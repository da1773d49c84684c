"""Idempotent client order ids: deterministic from (session id, decision sequence).

The same decision always gets the same id, so a restarted session (or a retried submission)
that re-derives it can ask the venue "do you already have this order?" before sending it again.
Each venue constrains ids differently; `client_order_id` produces an id valid for `venue`
(checked against `CLIENT_ID_RULES`), all derived from one SHA-256 of the pair.
"""

from __future__ import annotations

import hashlib
import re

from nzeza.errors import ValidationError

# venue -> (pattern the venue accepts, why). Sources: Binance newClientOrderId
# ^[.A-Z:/a-z0-9_-]{1,36}$; Kraken cl_ord_id (UUID, 32 hex digits, or <= 18 chars of free text);
# Hyperliquid cloid (a 128-bit hex string "0x" + 32 hex digits); dYdX v4 client_id (uint32);
# Coinbase client_order_id (free string; UUID-like by convention); the domain's 1..64 chars.
CLIENT_ID_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "binance": (re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$"), "1-36 of [.A-Za-z0-9:/_-]"),
    "coinbase": (re.compile(r"^[A-Za-z0-9-]{1,36}$"), "1-36 of [A-Za-z0-9-]"),
    "kraken": (re.compile(r"^[0-9a-f]{32}$"), "32 lowercase hex digits (a dashless UUID)"),
    "hyperliquid": (re.compile(r"^0x[0-9a-f]{32}$"), "0x and 32 hex digits (128 bits)"),
    "dydx": (re.compile(r"^[0-9]{1,10}$"), "a uint32 in decimal"),
    "paper": (re.compile(r"^[A-Za-z0-9._:-]{1,64}$"), "1-64 of [A-Za-z0-9._:-]"),
}


def _digest(session_id: str, seq: int | str) -> str:
    if not isinstance(session_id, str) or not session_id:
        raise ValidationError("session_id", session_id, "must be a non-empty string")
    if isinstance(seq, bool) or not isinstance(seq, int | str) or str(seq) == "":
        raise ValidationError("seq", seq, "must be an int or a non-empty string")
    return hashlib.sha256(f"nzeza\x00{session_id}\x00{seq}".encode()).hexdigest()


def client_order_id(session_id: str, seq: int | str, venue: str = "paper") -> str:
    """The client order id of decision `seq` of `session_id`, in `venue`'s format.

    `seq` is the decision sequence (an int, or "12.3" for child 3 of decision 12). Venues not
    in `CLIENT_ID_RULES` get the binance format (the strictest common one).
    """
    h = _digest(session_id, seq)
    family = venue.split(":")[0].lower()
    if family == "kraken":
        cid = h[:32]
    elif family == "hyperliquid":
        cid = "0x" + h[:32]
    elif family == "dydx":
        cid = str(int(h[:8], 16))  # uint32
    else:
        # Readable prefix + 112 bits of hash: 'nz-' + 28 hex = 31 chars, fits binance's 36.
        cid = "nz-" + h[:28]
    validate_client_id(cid, family)
    return cid


def validate_client_id(cid: str, venue: str) -> str:
    """Raise `ValidationError` if `cid` breaks `venue`'s rule (binance's when unknown)."""
    pattern, rule = CLIENT_ID_RULES.get(venue, CLIENT_ID_RULES["binance"])
    if not isinstance(cid, str) or not pattern.match(cid):
        raise ValidationError("client_order_id", cid, f"{venue} needs {rule}")
    return cid
