"""CEX venues through ccxt: capabilities as data, error mapping, pure conversions, the venue."""

from nzeza.venues.ccxt.capabilities import CAPABILITIES, capabilities
from nzeza.venues.ccxt.errors import map_error
from nzeza.venues.ccxt.keys import eth_address
from nzeza.venues.ccxt.venue import CcxtVenue

__all__ = ["CAPABILITIES", "CcxtVenue", "capabilities", "eth_address", "map_error"]
