"""The promotion gates, each a function of recorded evidence that says pass or fail and why.

    verdict    the newest verdict in the ledger of this exact strategy identity (class path +
               source hash) and parameters is SCALE, its PBO is at most `max_pbo`, and it was
               made on the timeframe being promoted
    lookahead  targets on truncated histories equal the full-history targets
    parity     the session engine's windowed replay equals the research backtest (a portfolio
               strategy: order for order on the panel, `engine.portfolio_parity`)
    paper      (live only) a paper session of this run measured against research on the same
               bars (`nzeza.promotion.paper_gate`)

`promote(...)` runs the gates for a target, records the decision in the ledger (passed or
refused) with the whole run it binds (`nzeza.promotion.binding`) and returns it. Nothing here
trades; live sessions check the record in the ledger (`nzeza.promotion.live_check`).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nzeza.domain import Costs
from nzeza.errors import ValidationError
from nzeza.promotion.policy import GatePolicy
from nzeza.promotion.records import Gate, GateResult, PromotionDecision, evaluate, file_hash, record


def _full_params(cls: type, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter with its default filled in: what the hash of a configuration covers."""
    return dict(cls(**dict(params)).params)


def newest_verdict(cls: type, params: Mapping[str, Any], ledger: Any) -> dict[str, Any] | None:
    """The newest verdict (ledger insertion order) of exactly this code and these parameters."""
    from nzeza.store.trials import verdicts
    from nzeza.strategies.identity import identify, strategy_identity

    ident = strategy_identity(cls)
    who = identify(cls(**_full_params(cls, params)))
    rows = verdicts(
        ledger, family=ident.family, source_hash=ident.source_hash, params_hash=who.params_hash
    )
    return rows[-1] if rows else None


def verdict_gate(
    cls: type,
    params: Mapping[str, Any],
    ledger: Any,
    policy: GatePolicy | None = None,
    timeframe: str | None = None,
) -> Gate:
    """The newest verdict (ledger insertion order) of exactly this code and these parameters.

    Verdicts are read from the ledger only: a file is not evidence, and a class that merely
    shares the short name (`evil:sma_cross`) is another identity."""
    policy = policy or GatePolicy()

    def gate() -> GateResult:
        from nzeza.store.trials import verdicts
        from nzeza.strategies.identity import identify, strategy_identity

        row = newest_verdict(cls, params, ledger)
        if row is None:
            ident = strategy_identity(cls)
            who = identify(cls(**_full_params(cls, params)))
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
        dsr, pbo = row.get("deflated_sharpe"), row.get("pbo")
        detail = (
            f"newest verdict #{row['id']} decided {row['decision']}"
            + (f" (deflated Sharpe {dsr:.2f}" if isinstance(dsr, int | float) else " (")
            + f" over {row['n_trials']} registered trials"
            + (f", PBO {pbo:.2f})" if isinstance(pbo, int | float) else ")")
            + f" on data {row['dataset']} ({row['timeframe']}) "
            + f"{_iso(row['data_start_ns'])} → {_iso(row['data_end_ns'])}"
        )
        problems = []
        if not isinstance(pbo, int | float):
            problems.append("no PBO was computed (too few registered trials)")
        elif pbo > policy.max_pbo:
            problems.append(f"PBO {pbo:.2f} > {policy.max_pbo:g}")
        if timeframe is not None and not _same_timeframe(timeframe, row["timeframe"]):
            problems.append(f"promoting {timeframe} bars, the verdict is on {row['timeframe']}")
        if problems:
            detail += "; " + "; ".join(problems)
        return GateResult("verdict", row["decision"] == "SCALE" and not problems, detail)

    return gate


def _same_timeframe(a: str, b: str) -> bool:
    from nzeza.feeds.bars import timeframe_ns

    try:
        return timeframe_ns(a) == timeframe_ns(b)
    except ValidationError:
        return a == b


def _iso(ns: int) -> str:
    return str(pd.Timestamp(int(ns), tz="UTC"))


def lookahead_gate(strategy: Any, bars: pd.DataFrame, progress: bool = False) -> Gate:
    def gate() -> GateResult:
        from nzeza.research import check_lookahead

        report = check_lookahead(strategy, bars, progress=progress)
        return GateResult("lookahead", report.ok, str(report))

    return gate


def perp_verdict_gate(inner: Gate, cls: type, params: Mapping[str, Any], ledger: Any, perp: Any):
    """The verdict gate of a perpetual run: the verdict must also have been made on this
    perpetual's terms (its cost key's `perp`: venue, leverage, maintenance terms, funding
    digest), not on spot bars or another leverage or funding history."""
    import json

    def gate() -> GateResult:
        result = inner()
        row = newest_verdict(cls, params, ledger)
        if row is None:
            return result
        costs = row.get("costs") or {}
        try:
            theirs = (json.loads(costs) if isinstance(costs, str) else costs).get("perp")
        except (AttributeError, TypeError, ValueError):
            theirs = None
        ours = _plain_terms(perp.terms["perp"])
        if _plain_terms(theirs) != ours:
            why = (
                "made on spot terms"
                if theirs is None
                else f"made on other perpetual terms ({_terms_text(theirs)})"
            )
            detail = f"{result.detail}; the verdict was {why}, this run is {_terms_text(ours)}"
            return GateResult("verdict", False, detail)
        return GateResult("verdict", result.passed, f"{result.detail}; on {_terms_text(ours)}")

    return gate


def _plain_terms(terms: Any) -> Any:
    import json

    return None if terms is None else json.loads(json.dumps(terms, sort_keys=True, default=str))


def _terms_text(terms: Mapping[str, Any]) -> str:
    return (
        f"{terms.get('venue')} {terms.get('leverage')}×, mmr "
        f"{terms.get('maintenance_margin_rate')}, funding {terms.get('funding')}"
    )


def parity_gate(
    strategy: Any,
    bars: pd.DataFrame,
    costs: Costs,
    tolerance: float,
    progress: bool = False,
    perp: Any = None,
) -> Gate:
    def gate() -> GateResult:
        from nzeza.engine.parity import compare
        from nzeza.engine.portfolio_parity import compare_portfolio
        from nzeza.strategies import is_portfolio

        # windowed: the engine sees only a trailing window at each bar, as a live session does
        if is_portfolio(strategy):  # order for order on the panel, shared cash
            pf = compare_portfolio(
                strategy, bars, costs, windowed=True, tolerance=tolerance, progress=progress
            )
            detail = (
                f"{pf.engine_orders} orders on {len(pf.symbols)} symbols equal, equity rel "
                f"diff at most {pf.equity_rel_diff:.1e} over {pf.bars} bars"
                if pf.ok
                else "; ".join(pf.mismatches[:3])
            )
            return GateResult("parity", pf.ok, detail)
        report = compare(
            strategy, bars, costs, windowed=True, tolerance=tolerance, progress=progress,
            perp=perp,
        )  # fmt: skip
        detail = (
            f"{report.engine_trades} trades equal, final equity rel diff "
            f"{report.equity_rel_diff:.1e} on {report.bars} bars"
            if report.ok
            else "; ".join(report.mismatches[:3])
        )
        if report.ok and report.perp is not None:
            detail += (
                f"; {report.perp['engine_payments']} funding payments equal (rel diff "
                f"{report.perp['funding_rel_diff']:.1e}), {report.perp['engine_liquidations']} "
                "liquidations"
            )
        return GateResult("parity", report.ok, detail)

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
    symbol: str = "BTCUSDT",
    venue: str | None = None,
    timeframe: str | None = None,
    cash: Any = None,
    vol_targeting: Any = None,
    risk: Any = None,
    perp: Any = None,
) -> PromotionDecision:
    """Check every gate of `target` for the notebook's strategy; record the decision and the
    run it binds.

    The strategy and parameters are the notebook's `parameters` cell defaults (`strategy`,
    `params`), overridden by `strategy` and merged with `params` when given. The run: `symbol`
    on `venue` (a live promotion needs one; a paper one trades on `paper`), `timeframe`
    (default: the verdict's), `costs`, sizing (`cash` for paper, `vol_targeting`) and `risk`
    (the resolved risk settings; default the defaults). `progress` shows progress bars for the
    long gates (lookahead, parity). `perp` (a `research.perp.PerpSetup`): the run is that
    perpetual; the verdict must be on its terms, parity runs `backtest_perp` against the
    engine's perpetual replay (funding amounts included), and the binding holds its terms
    (`perp`, compared when a live session starts) and its funding data's digest.
    """
    from nzeza.engine.runner import parse_mapping, resolve_class
    from nzeza.promotion.binding import run_binding
    from nzeza.promotion.paper_gate import paper_gate
    from nzeza.research.trials import data_fingerprint
    from nzeza.strategies import is_portfolio

    policy = policy or GatePolicy()
    costs = costs or Costs()
    defaults = notebook_parameters(notebook)
    name = strategy or defaults.get("strategy")
    if not isinstance(name, str):
        raise ValidationError("strategy", name, "not given and not in the notebook's parameters")
    cls, _ = resolve_class(name)
    portfolio_symbols: list[str] | None = None
    if is_portfolio(cls):
        from nzeza.strategies.portfolio import panel_symbols

        if perp is not None:
            raise ValidationError("perp", perp.spec.venue, "portfolio strategies trade spot")
        if target == "live" and len([p for p in symbol.split(",") if p.strip()]) < 2:
            raise ValidationError(
                "symbol",
                symbol,
                f"{name} is a portfolio strategy: a live promotion names every symbol the live "
                "session trades, in order (e.g. BTC/USDT,ETH/USDT)",
            )
        portfolio_symbols = panel_symbols(bars, "bars")  # its gates run on the panel
    if target == "live" and not venue:
        raise ValidationError(
            "venue", venue, "a live promotion names the venue it trades on (NZEZA_LIVE_VENUE)"
        )
    # the notebook's own parameters apply only to the notebook's own strategy, read as the
    # notebook reads them (a mapping or a JSON string; see nzeza.notebook.parameters)
    same = name == defaults.get("strategy")
    base = parse_mapping("params", defaults.get("params")) if same else {}
    merged = {**base, **dict(params or {})}
    instance = cls(**merged)
    full = dict(instance.params)
    verdict = newest_verdict(cls, full, ledger)
    timeframe = timeframe or (verdict or {}).get("timeframe")
    binding = run_binding(
        instance,
        symbol=symbol,
        venue=venue or "paper",
        timeframe=str(timeframe or "?"),
        costs=costs,
        cash=cash if target == "paper" else None,
        vol_targeting=vol_targeting,
        risk=risk,
        perp=None if perp is None else _perp_binding(perp),
    )
    if portfolio_symbols is not None and target != "live":
        binding["symbol"] = ",".join(portfolio_symbols)  # paper trades the panel's symbols
    gates: dict[str, Gate] = {
        "verdict": verdict_gate(cls, full, ledger, policy, timeframe),
        "lookahead": lookahead_gate(instance, bars, progress),
        "parity": parity_gate(instance, bars, costs, policy.parity_tolerance, progress, perp),
    }
    if perp is not None:
        gates["verdict"] = perp_verdict_gate(gates["verdict"], cls, full, ledger, perp)
    holder: dict[str, Any] = {}
    if target == "live":
        gates["paper"] = paper_gate(
            ledger,
            instance,
            policy,
            verdict=verdict,
            symbol=binding["symbol"],
            costs=costs,
            holder=holder,
            sizing=binding["sizing"],
            perp=binding.get("perp"),
            funding=None if perp is None else perp.funding,
        )
    decision = evaluate(getattr(cls, "name", cls.__name__), full, target, gates)
    decision.divergence = holder.get("report")
    gate_data = data_fingerprint(bars)
    nb_hash = file_hash(notebook)
    binding.update(
        verdict_id=(verdict or {}).get("id"),
        dataset=(verdict or {}).get("dataset"),
        gate_data=gate_data,
        notebook_hash=nb_hash,
        thresholds=policy.record(),
        paper_session=holder.get("session"),
        **({} if perp is None else {"funding_data": perp.terms["perp"]["funding"]}),
    )
    return record(ledger, decision, gate_data, nb_hash, binding)


def _perp_binding(perp: Any) -> dict[str, str]:
    from nzeza.promotion.binding import perp_record

    spec = perp.spec
    return perp_record(spec.venue, perp.leverage, spec.maintenance_margin_rate, spec.max_leverage)


__all__ = [
    "lookahead_gate",
    "newest_verdict",
    "notebook_parameters",
    "parity_gate",
    "perp_verdict_gate",
    "promote",
    "verdict_gate",
]
