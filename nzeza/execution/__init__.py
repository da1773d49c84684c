"""nzeza.execution — intents to venue orders: slippage, TWAP, rate limits, idempotent ids."""

from nzeza.execution.book import SnapshotBook
from nzeza.execution.slippage import SlippageEstimate, estimate_slippage

__all__ = ["SlippageEstimate", "SnapshotBook", "estimate_slippage"]
