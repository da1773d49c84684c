"""The promotion gates, each a function of recorded evidence that says pass or fail and why.

    verdict    the newest verdict in the ledger of this exact strategy identity (class path +
               source hash) and parameters is SCALE
    lookahead  targets on truncated histories equal the full-history targets
    parity     the session engine's windowed replay equals the research backtest (1e-9)
    paper      (live only) a paper session of this strategy + parameters ran at least
               `min_paper_bars` bars, no risk breaker or kill switch tripped, and its equity
               tracks a replay of the same bars within `max_tracking_error`

`promote(...)` runs the gates for a target, records the decision in the ledger (passed or
refused) and returns it. Nothing here trades; live sessions check the record in the ledger.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.notebook.parameters import parse_mapping
from nzeza.notebook.promotion import (
    Gate,
    GatePolicy,
    GateResult,
    PromotionDecision,
    evaluate,
    file_hash,
    record,
)
from nzeza.strategies.base import params_hash

# risk checks whose trip means the session was not under control
BREAKER_CHECKS = ("daily_loss", "kill_switch")


def _full_params(cls: type, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter with its default filled in: what the hash of a configuration covers."""
    return dict(cls(**dict(params)).params)


def verdict_gate(cls: type, params: Mapping[str, Any], ledger: Any) -> Gate:
    """The newest verdict (ledger insertion order) of exactly this code and these parameters.

    Verdicts are read from the ledger only: a file is not evidence, and a class that merely
    shares the short name (`evil:sma_cross`) is another identity."""

    def gate() -> GateResult:
        from nzeza.store.trials import verdicts
        from nzeza.strategies.identity import identify, strategy_identity

        ident = strategy_identity(cls)
        who = identify(cls(**_full_params(cls, params)))
        rows = verdicts(
            ledger,
            family=ident.family,
            source_hash=ident.source_hash,
            params_hash=who.params_hash,
        )
        if not rows:
            other = verdicts(ledger, family=ident.family, params_hash=who.params_hash)
            why = (
                f"; {len(other)} verdict(s) of these parameters were made for other code of "
                f"{ident.family} (newest {other[-1]['identity']}): validate this code"
                if other
                else ""
            )
            return GateResult(
                "verdict",
                False,
                f"no verdict in the ledger for {ident.identity} with these parameters{why}",
            )
        row = rows[-1]
        dsr, pbo = row.get("deflated_sharpe"), row.get("pbo")
        detail = (
            f"newest verdict #{row['id']} decided {row['decision']}"
            + (f" (deflated Sharpe {dsr:.2f}" if isinstance(dsr, int | float) else " (")
            + f" over {row['n_trials']} registered trials"
            + (f", PBO {pbo:.2f})" if isinstance(pbo, int | float) else ")")
            + f" on data {row['dataset']} ({row['timeframe']}) "
            + f"{_iso(row['data_start_ns'])} → {_iso(row['data_end_ns'])}"
        )
        return GateResult("verdict", row["decision"] == "SCALE", detail)

    return gate


def _iso(ns: int) -> str:
    return str(pd.Timestamp(int(ns), tz="UTC"))


def lookahead_gate(strategy: Any, bars: pd.DataFrame, progress: bool = False) -> Gate:
    def gate() -> GateResult:
        from nzeza.research import check_lookahead

        report = check_lookahead(strategy, bars, progress=progress)
        return GateResult("lookahead", report.ok, str(report))

    return gate


def parity_gate(
    strategy: Any, bars: pd.DataFrame, costs: Costs, tolerance: float, progress: bool = False
) -> Gate:
    def gate() -> GateResult:
        from nzeza.engine.parity import compare

        # windowed: the engine sees only a trailing window at each bar, as a live session does
        report = compare(
            strategy, bars, costs, windowed=True, tolerance=tolerance, progress=progress
        )
        detail = (
            f"{report.engine_trades} trades equal, final equity rel diff "
            f"{report.equity_rel_diff:.1e} on {report.bars} bars"
            if report.ok
            else "; ".join(report.mismatches[:3])
        )
        return GateResult("parity", report.ok, detail)

    return gate


def paper_sessions(ledger: Any, cls: type, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Paper sessions of exactly this strategy + parameters, oldest first."""
    want = params_hash(cls.name, _full_params(cls, params))
    names = {cls.name, cls.__name__}
    out = []
    for row in ledger.sessions():
        if row["mode"] != "paper" or row["strategy"] not in names:
            continue
        try:
            got = params_hash(cls.name, _full_params(cls, json.loads(row["params"])))
        except ValidationError:
            continue
        if got == want:
            out.append(row)
    return sorted(out, key=lambda r: r["started_ns"])


def paper_gate(ledger: Any, cls: type, params: Mapping[str, Any], policy: GatePolicy) -> Gate:
    def gate() -> GateResult:
        from nzeza.engine.tracking import session_tracking

        rows = paper_sessions(ledger, cls, params)
        if not rows:
            return GateResult("paper", False, "no paper session of these parameters in the ledger")
        reasons: list[str] = []
        for row in reversed(rows):  # the newest session that passes counts
            sid = row["session_id"]
            n = len(ledger.equity_curve(sid))
            if n < policy.min_paper_bars:
                reasons.append(f"{sid}: {n} bars < {policy.min_paper_bars}")
                continue
            trips = [e for e in ledger.risk_events(sid) if e["check_name"] in BREAKER_CHECKS]
            if trips:
                reasons.append(f"{sid}: {trips[0]['check_name']} tripped ({len(trips)} events)")
                continue
            tracking = session_tracking(ledger, sid, cls(**dict(params)))
            if tracking.max_error > policy.max_tracking_error:
                reasons.append(
                    f"{sid}: tracking error {tracking.max_error:.2e} > "
                    f"{policy.max_tracking_error:.0e}"
                )
                continue
            return GateResult(
                "paper",
                True,
                f"{sid}: {n} bars, no breaker trip, tracking error {tracking.max_error:.1e} "
                f"≤ {policy.max_tracking_error:.0e}",
            )
        return GateResult("paper", False, "; ".join(reasons[:3]))

    return gate


def notebook_parameters(notebook: str | Path) -> dict[str, Any]:
    """The defaults of a notebook's `parameters` cell (literals only, as papermill sees them)."""
    import papermill as pm

    path = Path(notebook)
    if not path.is_file():
        raise ValidationError("notebook", str(notebook), "no such notebook file")
    out: dict[str, Any] = {}
    for name, spec in pm.inspect_notebook(str(path)).items():
        try:
            out[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            continue
    return out


def promote(
    notebook: str | Path,
    target: str,
    *,
    strategy: str | None = None,
    params: Mapping[str, Any] | None = None,
    ledger: Any,
    bars: pd.DataFrame,
    costs: Costs | None = None,
    policy: GatePolicy | None = None,
    progress: bool = False,
) -> PromotionDecision:
    """Check every gate of `target` for the notebook's strategy; record the decision.

    The strategy and parameters are the notebook's `parameters` cell defaults (`strategy`,
    `params`), overridden by `strategy` and merged with `params` when given. `progress` shows
    progress bars for the long gates (lookahead, parity).
    """
    from nzeza.research.verdict import data_fingerprint
    from nzeza.strategies import get_strategy

    policy = policy or GatePolicy()
    costs = costs or Costs()
    defaults = notebook_parameters(notebook)
    name = strategy or defaults.get("strategy")
    if not isinstance(name, str):
        raise ValidationError("strategy", name, "not given and not in the notebook's parameters")
    cls = get_strategy(name)
    # the notebook's own parameters apply only to the notebook's own strategy, read as the
    # notebook reads them (a mapping or a JSON string; see nzeza.notebook.parameters)
    same = name == defaults.get("strategy")
    base = parse_mapping("params", defaults.get("params")) if same else {}
    merged = {**base, **dict(params or {})}
    instance = cls(**merged)
    full = dict(instance.params)
    gates: dict[str, Gate] = {
        "verdict": verdict_gate(cls, full, ledger),
        "lookahead": lookahead_gate(instance, bars, progress),
        "parity": parity_gate(instance, bars, costs, policy.parity_tolerance, progress),
    }
    if target == "live":
        gates["paper"] = paper_gate(ledger, cls, full, policy)
    decision = evaluate(cls.name, full, target, gates)
    return record(ledger, decision, data_fingerprint(bars), file_hash(notebook))


__all__ = [
    "BREAKER_CHECKS",
    "lookahead_gate",
    "notebook_parameters",
    "paper_gate",
    "paper_sessions",
    "parity_gate",
    "promote",
    "verdict_gate",
]
