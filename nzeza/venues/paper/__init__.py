"""The paper venue: simulated matching against a book, or research's bar fill convention."""

from nzeza.venues.paper.matching import take_liquidity
from nzeza.venues.paper.venue import PaperVenue

__all__ = ["PaperVenue", "take_liquidity"]
