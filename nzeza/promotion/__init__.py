"""Promotion: a strategy goes to paper, then live, only through explicit gates.

    policy       thresholds from settings (floors enforced), tightened by flags
    records      gate results, the decision, its ledger row
    binding      what a promotion binds (the whole run) and the field-by-field comparison
    gates        verdict, lookahead, parity; `promote()`
    paper_gate   a paper session measured against research on the same bars
    divergence   the session-vs-research report and its attribution (`nzeza divergence`)
    live_check   every gate `nzeza live` (and the 05_live notebook) checks before it starts

The CLI, the notebooks and the engine all use this package; nothing here trades.
"""

from nzeza.promotion.binding import differences, run_binding
from nzeza.promotion.divergence import DivergenceReport, divergence
from nzeza.promotion.gates import (
    lookahead_gate,
    newest_verdict,
    notebook_parameters,
    parity_gate,
    promote,
    verdict_gate,
)
from nzeza.promotion.live_check import (
    live_binding,
    live_gates,
    live_problems,
    require_live,
    require_live_promotion,
)
from nzeza.promotion.paper_gate import BREAKER_CHECKS, paper_gate, paper_sessions
from nzeza.promotion.policy import GatePolicy, policy_from
from nzeza.promotion.records import (
    TARGETS,
    GateResult,
    PromotionDecision,
    evaluate,
    file_hash,
    record,
)

__all__ = [
    "BREAKER_CHECKS",
    "TARGETS",
    "DivergenceReport",
    "GatePolicy",
    "GateResult",
    "PromotionDecision",
    "differences",
    "divergence",
    "evaluate",
    "file_hash",
    "live_binding",
    "live_gates",
    "live_problems",
    "lookahead_gate",
    "newest_verdict",
    "notebook_parameters",
    "paper_gate",
    "paper_sessions",
    "parity_gate",
    "policy_from",
    "promote",
    "record",
    "require_live",
    "require_live_promotion",
    "run_binding",
    "verdict_gate",
]
