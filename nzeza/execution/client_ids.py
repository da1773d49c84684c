"""Client order ids: deterministic from (session, decision sequence), valid on every venue, and
recognisable as the session's own after a restart.

The same decision always gets the same id, so a restarted session (or a retried submission)
that re-derives it can ask the venue "do you already have this order?" before sending it again.
A restarted session must also tell its own orders and fills from everyone else's on a shared
account: where the venue's id format leaves room, the id starts with a session prefix; where it
does not (dYdX: a uint32), the ledger keeps a table from client id to session
(`client_order_ids`, schema v5) that the generator writes before the id is used.

| venue | rule | id of decision 12 | child 3 of 12 | own ids by |
|---|---|---|---|---|
| paper, binance, coinbase | ≤ 36 of [A-Za-z0-9-] | `nz` 10hex `00000012` | `…00000012-3` | prefix |
| kraken | 32 lowercase hex | 16hex `00000000000c` `0000` | `…000c0004` | prefix |
| hyperliquid | `0x` + 32 hex | `0x` + the Kraken form | `0x…000c0004` | prefix |
| dydx | uint32 | hash of (session, 12) | hash of (session, "12.3") | ledger table |

The hex prefixes are the first hex digits of SHA-256(session id) (40 bits for the readable
`nz` form, 64 for the hex venues); the sequence part is the sequence itself, not a hash, so two
decisions of one session never collide. A dYdX id is 32 bits of SHA-256(session, seq): when
the ledger already gives that id to another decision, the next salt is tried.
"""

from __future__ import annotations

import functools
import hashlib
import re
from itertools import count
from typing import Any

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
HEX_VENUES = ("kraken", "hyperliquid")
LEDGER_MAPPED = ("dydx",)  # no room for a session prefix: the ledger maps id -> session
_MAX_SEQ_HEX = 16**12  # 12 hex digits of sequence in the hex forms
_MAX_CHILD_HEX = 16**4 - 1


def family(venue: str) -> str:
    """The id format a venue takes (`binance:spot` → binance; unknown venues → binance's)."""
    name = venue.split(":")[0].lower()
    return name if name in CLIENT_ID_RULES else "binance"


@functools.lru_cache(maxsize=256)
def _session_hex(session_id: str) -> str:
    if not isinstance(session_id, str) or not session_id:
        raise ValidationError("session_id", session_id, "must be a non-empty string")
    return hashlib.sha256(session_id.encode()).hexdigest()


def _split_seq(seq: int | str) -> tuple[int, int | None]:
    """12 → (12, None); "12.3" → (12, 3) (child 3 of decision 12)."""
    if isinstance(seq, bool) or not isinstance(seq, int | str) or str(seq) == "":
        raise ValidationError("seq", seq, "must be an int or a non-empty string")
    if isinstance(seq, int):
        parent, child = seq, None
    else:
        head, dot, tail = seq.partition(".")
        if not head.isdigit() or (dot and not tail.isdigit()):
            raise ValidationError("seq", seq, "must be N or N.M (child M of decision N)")
        parent, child = int(head), (int(tail) if dot else None)
    if parent < 0:
        raise ValidationError("seq", seq, "must not be negative")
    return parent, child


def session_prefix(session_id: str, venue: str = "paper") -> str | None:
    """What every client id of `session_id` on `venue` starts with (None: dYdX, where the
    ledger's `client_order_ids` table says which ids are the session's)."""
    fam = family(venue)
    if fam in LEDGER_MAPPED:
        return None
    h = _session_hex(session_id)
    if fam == "kraken":
        return h[:16]
    if fam == "hyperliquid":
        return "0x" + h[:16]
    return "nz" + h[:10]


def dydx_client_id(session_id: str, seq: int | str, salt: int = 0) -> str:
    """A uint32 derived from (session, seq, salt), in decimal."""
    _split_seq(seq)
    _session_hex(session_id)
    text = f"nzeza\x00{session_id}\x00{seq}" + (f"\x00{salt}" if salt else "")
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16))


def client_order_id(session_id: str, seq: int | str, venue: str = "paper") -> str:
    """The client order id of decision `seq` of `session_id`, in `venue`'s format (see the
    module table). `seq` is the decision sequence (an int, or "12.3" for child 3 of decision
    12). dYdX ids are salt 0 here; `ClientIds` claims them in the ledger."""
    fam = family(venue)
    parent, child = _split_seq(seq)
    if fam in LEDGER_MAPPED:
        cid = dydx_client_id(session_id, seq)
    elif fam in HEX_VENUES:
        if parent >= _MAX_SEQ_HEX or (child is not None and not 0 <= child < _MAX_CHILD_HEX):
            raise ValidationError("seq", seq, f"out of range for {fam} client ids")
        slot = 0 if child is None else child + 1
        cid = f"{session_prefix(session_id, fam)}{parent:012x}{slot:04x}"
    else:
        cid = f"{session_prefix(session_id, fam)}{parent:08d}"
        if child is not None:
            cid += f"-{child}"
    return validate_client_id(cid, fam)


def validate_client_id(cid: str, venue: str) -> str:
    """Raise `ValidationError` if `cid` breaks `venue`'s rule (binance's when unknown)."""
    pattern, rule = CLIENT_ID_RULES.get(family(venue), CLIENT_ID_RULES["binance"])
    if not isinstance(cid, str) or not pattern.match(cid):
        raise ValidationError("client_order_id", cid, f"{venue} needs {rule}")
    if family(venue) == "dydx" and int(cid) >= 2**32:
        raise ValidationError("client_order_id", cid, f"{venue} needs {rule}")
    return cid


class ClientIds:
    """The client order ids of one session on one venue: generate, and recognise as ours.

    With a `ledger`, ids of venues without a session prefix (dYdX) are claimed in its
    `client_order_ids` table before use (a collision with another decision takes the next
    salt), and `owns` reads that table at start, so a restarted session knows its orders.
    """

    def __init__(self, session_id: str, venue: str = "paper", ledger: Any = None) -> None:
        self.session_id = session_id
        self.venue = venue
        self.family = family(venue)
        self.ledger = ledger
        self.prefix = session_prefix(session_id, venue)
        self._mapped: set[str] = set()
        if self.prefix is None and ledger is not None:
            self._mapped = set(ledger.client_ids(session_id, self.family))

    def __call__(self, seq: int | str) -> str:
        """The id of decision (or child) `seq`."""
        if self.prefix is not None:
            return client_order_id(self.session_id, seq, self.venue)
        for salt in count():
            cid = dydx_client_id(self.session_id, seq, salt)
            if self.ledger is None:
                break
            owner = self.ledger.claim_client_id(self.family, cid, self.session_id, str(seq))
            if owner == (self.session_id, str(seq)):
                break
        self._mapped.add(cid)
        return validate_client_id(cid, self.family)

    def child(self, seq: int, n: int) -> str:
        """The id of child `n` (TWAP slice) of decision `seq`."""
        return self(f"{seq}.{n}")

    def owns(self, client_order_id: str) -> bool:
        """Is this one of this session's ids (also those of an earlier run of it)?"""
        if self.prefix is not None:
            return client_order_id.startswith(self.prefix)
        return client_order_id in self._mapped


__all__ = [
    "CLIENT_ID_RULES",
    "ClientIds",
    "client_order_id",
    "dydx_client_id",
    "family",
    "session_prefix",
    "validate_client_id",
]
