"""nzeza.venues — adapters behind one async interface (`Venue`): paper, ccxt, dydx.

Light at import: the ccxt and dydx adapters are imported from their modules
(`nzeza.venues.ccxt`, `nzeza.venues.dydx`), never here.
"""

from nzeza.venues.base import (
    Balance,
    OrderRequest,
    Update,
    Venue,
    VenueFunding,
    VenueOrder,
    VenuePosition,
)
from nzeza.venues.paper import PaperVenue

__all__ = [
    "Balance",
    "OrderRequest",
    "PaperVenue",
    "Update",
    "Venue",
    "VenueFunding",
    "VenueOrder",
    "VenuePosition",
]
