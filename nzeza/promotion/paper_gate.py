"""The paper gate (live only): a paper session of exactly this run that measured something.

The newest paper session of this strategy identity (class path + source hash) and parameters
that meets every condition counts:

- it ran on the verdict's timeframe (a 1s-bar session says nothing about a 1h strategy), on
  the promoted symbol (a portfolio: every promoted symbol, in order) and with the promoted vol
  targeting;
- for at least `min_paper_bars` bars of that timeframe, or `min_paper_days` days;
- no daily-loss breaker or kill switch tripped;
- against the research backtest of the same bars under the research costs (the verdict's;
  `nzeza.promotion.divergence`): equity within `max_tracking_error`, realised slippage at most
  `max_excess_slippage_bps` above the assumed, missed + extra trades at most
  `max_trade_mismatch` of the research trades, and the session's annualised Sharpe not below
  the verdict's CPCV 5th percentile (when the session has `min_paper_bars` bars). A portfolio
  session is measured against the shared-cash backtest of the panel rebuilt from its feed
  (`nzeza.promotion.portfolio_divergence`): the portfolio's and each symbol's tracking error
  (its position value) within `max_tracking_error`, trades per (decision bar, symbol, side) over
  every symbol, slippage over every symbol's fills;
- for a perpetual session research is `backtest_perp`'s rule at its leverage with the funding
  it booked (`nzeza.promotion.perp_divergence`): each booked funding row must be
  −position × mark × rate, the net funding research's within `max_tracking_error` of the
  starting cash, and the liquidations research's.

A refusal names the session, the failed conditions and the attribution of the gap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nzeza.promotion.policy import GatePolicy
from nzeza.promotion.records import Gate, GateResult

# risk checks whose trip means the session was not under control
BREAKER_CHECKS = ("daily_loss", "kill_switch")


def paper_sessions(ledger: Any, identity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Paper sessions that ran exactly this code (`identity`) and parameters, oldest first."""
    from nzeza.strategies.identity import canonical_params

    want = canonical_params(dict(params))
    out = []
    for row in ledger.sessions():
        if row["mode"] != "paper":
            continue
        cfg = json.loads(row.get("config") or "{}")
        if cfg.get("identity") != identity:
            continue
        try:
            got = canonical_params(json.loads(row["params"] or "{}"))
        except ValueError:
            continue
        if got == want:
            out.append(row)
    return sorted(out, key=lambda r: r["started_ns"])


def research_costs(verdict: Mapping[str, Any] | None, fallback: Any) -> Any:
    """The costs research assumed: the verdict's, else `fallback`."""
    from nzeza.domain import Costs

    costs = (verdict or {}).get("costs") or {}
    if isinstance(costs, str):
        costs = json.loads(costs or "{}")
    if "fee" in costs and "slippage" in costs:
        return Costs.from_record(costs)
    return fallback


def judge_session(
    ledger: Any,
    row: Mapping[str, Any],
    strategy: Any,
    *,
    policy: GatePolicy,
    timeframe: str | None,
    symbol: str | None,
    costs: Any,
    cpcv_floor: float | None,
    sizing: Mapping[str, Any] | None = None,
    perp: Mapping[str, Any] | None = None,
    funding: Any = None,
) -> tuple[list[str], Any]:
    """Every condition session `row` fails (empty: it passes) and its divergence report.
    `perp`: the binding's perpetual terms (`binding.perp_record`; None: a spot run): the
    session must have traded the same way (a spot session is no evidence for a perpetual run
    at some leverage, nor a perpetual session for a spot run)."""
    from nzeza.feeds.bars import timeframe_ns
    from nzeza.promotion.portfolio_divergence import session_divergence

    sid = row["session_id"]
    cfg = json.loads(row.get("config") or "{}")
    ran = str(cfg.get("timeframe", "?"))
    if timeframe is not None and _ns(ran) != timeframe_ns(timeframe):
        return [f"ran on {ran} bars, the verdict is on {timeframe} bars"], None
    traded = _traded(cfg)
    if symbol is not None and traded != symbol:
        return [f"traded {traded or '?'}, the promotion is for {symbol}"], None
    if sizing is not None:
        vt = cfg.get("vol_targeting") or {}
        ran_vol = (vt.get("target_vol"), vt.get("lookback"))
        bound_vol = (sizing.get("vol_target"), sizing.get("vol_lookback"))
        if ran_vol != bound_vol:
            return [
                f"ran with vol target {_vol(*ran_vol)}, the promotion binds {_vol(*bound_vol)}"
            ], None
    ran_perp = _perp_terms(cfg.get("perp"))
    bound_perp = _perp_terms(perp)
    if ran_perp != bound_perp:
        return [f"ran {_perp_text(ran_perp)}, the promotion binds {_perp_text(bound_perp)}"], None
    trips = [e for e in ledger.risk_events(sid) if e["check_name"] in BREAKER_CHECKS]
    if trips:
        return [f"{trips[0]['check_name']} tripped ({len(trips)} events)"], None
    report = session_divergence(ledger, sid, strategy=strategy, costs=costs)
    problems = []
    if report.bars < policy.min_paper_bars and report.span_days < policy.min_paper_days:
        problems.append(
            f"{report.bars} bars < {policy.min_paper_bars} and {report.span_days:.2f} days < "
            f"{policy.min_paper_days:g}"
        )
    if report.tracking_error > policy.max_tracking_error:
        problems.append(
            f"tracking error {report.tracking_error:.2e} > {policy.max_tracking_error:.0e} "
            f"against research on the same bars"
        )
    table = getattr(report, "symbols", None)  # a portfolio session: each symbol's own
    if table is not None:
        for sym, te in table["tracking_error"].items():
            if te > policy.max_tracking_error:
                problems.append(
                    f"{sym} tracking error {te:.2e} > {policy.max_tracking_error:.0e} (its "
                    "position value against research's)"
                )
    if report.excess_slippage_bps > policy.max_excess_slippage_bps:
        problems.append(
            f"realised slippage {report.realised_slippage_bps:.1f} bps is "
            f"{report.excess_slippage_bps:.1f} bps above the {report.slippage * 1e4:.1f} assumed "
            f"(> {policy.max_excess_slippage_bps:g})"
        )
    if report.trade_mismatch > policy.max_trade_mismatch:
        problems.append(
            f"{report.missed} missed and {report.extra} extra trades of {report.research_orders} "
            f"(> {policy.max_trade_mismatch:.0%})"
        )
    if report.perp is not None:  # a perpetual: its booked funding and its liquidations
        problems += perp_problems(ledger, sid, report, policy, funding)
    sharpe = report.session_sharpe
    enough = report.bars >= policy.min_paper_bars and sharpe is not None
    if enough and sharpe is not None and cpcv_floor is not None and sharpe < cpcv_floor:
        problems.append(
            f"Sharpe {sharpe:.2f} below the verdict's CPCV 5% quantile {cpcv_floor:.2f}"
        )
    return problems, report


def perp_problems(
    ledger: Any, session_id: str, report: Any, policy: GatePolicy, funding: Any
) -> list[str]:
    """A perpetual session's funding and liquidations against research
    (`perp_divergence`), and its booked rates against `funding`, the funding history the
    promotion was judged on (None: not checked)."""
    from nzeza.promotion.perp_divergence import off_history

    out = report.perp.problems(report.init_cash, policy.max_tracking_error)
    _, off = off_history(ledger, session_id, funding)
    out += off[:3] + ([f"and {len(off) - 3} more rates off the history"] if len(off) > 3 else [])
    return out


def _perp_terms(terms: Mapping[str, Any] | None) -> tuple[float, ...] | None:
    """(leverage, maintenance margin rate, max leverage) of a session record's or a binding's
    perp section, as numbers (the two spell them differently); None: spot."""
    if not terms:
        return None
    keys = ("leverage", "maintenance_margin_rate", "max_leverage")
    return tuple(float(terms.get(k) or "nan") for k in keys)


def _perp_text(terms: tuple[float, ...] | None) -> str:
    if terms is None:
        return "spot"
    lev, mmr, top = terms
    return f"as a perpetual at {lev:g}× (mmr {mmr:g}, max {top:g}×)"


def _traded(cfg: Mapping[str, Any]) -> str:
    """What a session traded as a binding names it: BTC/USDT, or a portfolio session's symbols
    in its order, comma-separated (BTC/USDT,ETH/USDT)."""
    from nzeza.errors import ValidationError
    from nzeza.promotion.binding import market_symbol

    names = list(cfg.get("symbols") or []) if cfg.get("portfolio") else [cfg.get("symbol")]
    try:
        return ",".join(market_symbol(str(n)) for n in names if n)
    except ValidationError:
        return ""


def _vol(target: Any, lookback: Any) -> str:
    return "off" if target is None else f"{target:g} over {lookback} bars"


def _ns(timeframe: str) -> int | None:
    from nzeza.errors import ValidationError
    from nzeza.feeds.bars import timeframe_ns

    try:
        return timeframe_ns(timeframe)
    except ValidationError:
        return None


def attribution_text(report: Any) -> str:
    parts = ", ".join(f"{c} {v:+,.2f}" for c, v in report.attribution.items())
    gap = f"gap {report.gap:+,.2f} ({report.gap_return:+.2%})"
    return f"{gap}, main cause {report.main_cause}: {parts}"


def paper_gate(
    ledger: Any,
    strategy: Any,
    policy: GatePolicy,
    *,
    verdict: Mapping[str, Any] | None,
    symbol: str | None,
    costs: Any,
    holder: dict[str, Any] | None = None,
    sizing: Mapping[str, Any] | None = None,
    perp: Mapping[str, Any] | None = None,
    funding: Any = None,
) -> Gate:
    """The paper gate of `strategy` (an instance: its identity and parameters). `sizing` (the
    binding's) is the vol targeting the session must have run with; `holder` receives the
    judged session's id and divergence report; `funding` (a perpetual's funding history, the
    promotion's) is what a perpetual session's booked rates must be where it covers them."""

    def gate() -> GateResult:
        from nzeza.promotion.binding import strategy_of

        identity, params = strategy_of(strategy)
        rows = paper_sessions(ledger, identity, params)
        if not rows:
            return GateResult(
                "paper", False, f"no paper session of {identity} with these parameters"
            )
        timeframe = (verdict or {}).get("timeframe")
        metrics = (verdict or {}).get("metrics") or {}
        cpcv_floor = metrics.get("cpcv_quantile_sharpe_annual")
        reasons: list[str] = []
        for row in reversed(rows):  # the newest session that passes counts
            sid = row["session_id"]
            problems, report = judge_session(
                ledger,
                row,
                strategy,
                policy=policy,
                timeframe=timeframe,
                symbol=symbol,
                costs=research_costs(verdict, costs),
                cpcv_floor=cpcv_floor if isinstance(cpcv_floor, int | float) else None,
                sizing=sizing,
                perp=perp,
                funding=funding,
            )
            if holder is not None and report is not None and "report" not in holder:
                holder.update(session=sid, report=report)
            if problems:
                why = "; ".join(problems)
                if report is not None:
                    why += f" [{attribution_text(report)}]"
                reasons.append(f"{sid}: {why}")
                continue
            if holder is not None:
                holder.update(session=sid, report=report)
            return GateResult(
                "paper",
                True,
                f"{sid}: {report.bars} bars of {report.timeframe} ({report.span_days:.1f} days), "
                f"no breaker trip, tracking error {report.tracking_error:.1e}, slippage "
                f"{report.realised_slippage_bps:.1f} bps (assumed {report.slippage * 1e4:.1f}), "
                f"{report.matched}/{report.research_orders} trades matched",
            )
        return GateResult("paper", False, "; ".join(reasons[:3]))

    return gate


__all__ = ["BREAKER_CHECKS", "judge_session", "paper_gate", "paper_sessions", "research_costs"]
