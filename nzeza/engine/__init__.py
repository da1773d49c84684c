"""The one session engine for replay, paper and live."""

from nzeza.engine.perp import FundingClock, FundingEvent, PerpAccount
from nzeza.engine.replay import ReplayResult, replay, research_instrument
from nzeza.engine.sizing import VolTargeting
from nzeza.engine.state import SessionMachine, SessionState
from nzeza.engine.trader import Trader, client_order_id

__all__ = [
    "FundingClock",
    "FundingEvent",
    "PerpAccount",
    "ReplayResult",
    "SessionMachine",
    "SessionState",
    "Trader",
    "VolTargeting",
    "client_order_id",
    "replay",
    "research_instrument",
]
