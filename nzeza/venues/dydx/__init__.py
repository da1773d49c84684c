"""dYdX v4: Cosmos keys (cosmpy), integer market units, v4-proto messages signed DIRECT.

Imported explicitly (`from nzeza.venues.dydx import ...`); `nzeza.venues` does not load it.
"""

from nzeza.venues.dydx.keys import HD_PATH, PREFIX, DydxKey, address_from_mnemonic
from nzeza.venues.dydx.quantums import (
    MarketParams,
    from_quantums,
    from_subticks,
    to_quantums,
    to_subticks,
)

__all__ = [
    "HD_PATH",
    "PREFIX",
    "DydxKey",
    "MarketParams",
    "address_from_mnemonic",
    "from_quantums",
    "from_subticks",
    "to_quantums",
    "to_subticks",
]
