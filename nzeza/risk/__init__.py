"""nzeza.risk — pre-trade checks, the daily-loss breaker, the kill switch and stops.

Sans-I/O: `RiskEngine.check(intent, RiskContext) -> Decision`. See `engine.py`.
"""

from nzeza.risk.config import DEFAULT_CHECKS, EquityShare, RiskConfig
from nzeza.risk.dailyloss import DailyLossBreaker
from nzeza.risk.decision import Action, Decision, RiskContext
from nzeza.risk.engine import RiskEngine, reduces, total_pnl
from nzeza.risk.killswitch import (
    DEFAULT_KILL_FILE,
    KillSwitch,
    global_kill_file,
    kill_reason,
    session_kill_file,
    write_kill_file,
)
from nzeza.risk.stops import StopManager, StopSpec

__all__ = [
    "DEFAULT_CHECKS",
    "DEFAULT_KILL_FILE",
    "Action",
    "DailyLossBreaker",
    "Decision",
    "EquityShare",
    "KillSwitch",
    "RiskConfig",
    "RiskContext",
    "RiskEngine",
    "StopManager",
    "StopSpec",
    "global_kill_file",
    "kill_reason",
    "reduces",
    "session_kill_file",
    "total_pnl",
    "write_kill_file",
]
