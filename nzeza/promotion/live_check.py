"""The live check: every gate a live session must pass, checked and named together.

Live is opt-in twice (DESIGN principle 7). `live_gates` checks every gate and `live_problems`
lists every one that fails: explicit confirmation, a live venue, https/wss endpoints, present and
well-formed credentials (all from `Settings.live_problems`), a venue whose trade feed a session
can read, the venue's own feed (never a recording), a passed live promotion whose binding equals
the run about to start — strategy identity, parameters, symbol, venue, timeframe, costs, sizing,
risk settings, each difference named — made under thresholds no looser than today's settings,
and the ledger's integrity (its keyed audit chain, every row it covers and its anchor verify;
the promotion's row and its own entry in the chain agree). `nzeza live` refuses on these and a
notebook shows the same list (`nzeza.notebook.live.live_gates`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nzeza.errors import LiveTradingNotAllowed
from nzeza.promotion.binding import differences, run_binding

ENV = "NZEZA_"


def live_binding(
    settings: Any,
    strategy: Any,
    *,
    symbol: str,
    timeframe: str,
    costs: Any,
    vol_targeting: Any = None,
    perp: Any = None,
    orders: Any = None,
) -> dict[str, Any]:
    """The run fields of the live session about to start (see `nzeza.promotion.binding`);
    `perp` the session's `engine.runner.PerpTerms` (None: spot)."""
    from nzeza.promotion.binding import perp_record

    terms = None
    if perp is not None:
        terms = perp_record(
            perp.venue, perp.leverage, perp.maintenance_margin_rate, perp.max_leverage
        )
    return run_binding(
        strategy,
        symbol=symbol,
        venue=str(getattr(settings, "live_venue", None) or "(none)"),
        timeframe=timeframe,
        costs=costs,
        cash=None,  # live sizes from the account (risk.account_fraction)
        vol_targeting=vol_targeting,
        risk=getattr(settings, "risk", None),
        perp=terms,
        orders=orders,
    )


def plan_binding(settings: Any, plan: Any) -> dict[str, Any]:
    """`live_binding` of a `SessionPlan`."""
    return live_binding(
        settings,
        plan.strategy,
        symbol=plan.symbol,
        timeframe=plan.timeframe,
        costs=plan.costs,
        vol_targeting=plan.vol_targeting,
        perp=getattr(plan, "perp", None),
        orders=getattr(plan, "orders", None),
    )


def _binding_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = row.get("binding")
    return json.loads(raw) if raw else None


def _family(identity: str) -> str:
    return str(identity).split("@", 1)[0]


def find_live_promotion(
    ledger: Any, now: Mapping[str, Any], name: str, settings: Any = None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The passed live promotion that binds exactly the run `now` (a binding), or the closest
    one of this strategy with every reason it does not (empty when it does). `name` is the
    strategy's short name as given (a borrowed name finds the promotions made under it)."""
    family = _family(now["strategy"])
    thresholds = _current_thresholds(settings)
    passed: list[tuple[dict[str, Any], Any]] = []
    tried: list[tuple[dict[str, Any], Any]] = []
    for row in ledger.promotions(target="live"):
        binding = _binding_of(row)
        mine = row["strategy"] == name or (
            binding is not None and _family(binding.get("strategy", "")) == family
        )
        if mine:
            (passed if row["passed"] else tried).append((row, binding))
    head = f"promotion gate: {name} {dict(now['params'])}"
    # the newest decision about exactly this run rules: a later refusal withdraws a pass
    same = [
        (row, b)
        for row, b in sorted(passed + tried, key=lambda rb: rb[0]["id"])
        if b is not None and not differences(b, now)
    ]
    if same and not same[-1][0]["passed"]:
        row = same[-1][0]
        failed = [g for g, v in json.loads(row["gates"] or "{}").items() if not v.get("passed")]
        return row, [
            f"{head}: the newest live promotion of this run (#{row['id']}) was refused "
            f"(failed: {', '.join(failed) or '?'}); run `nzeza promote ... --to live` again"
        ]
    if not passed:
        why = (
            f"the last live promotion attempt (#{tried[-1][0]['id']}) was refused"
            if tried
            else "no live promotion record exists"
        )
        return None, [
            f"{head} is not promoted to live: {why}; run `nzeza promote NOTEBOOK --params ... "
            "--to live`"
        ]
    best: tuple[dict[str, Any], list[str]] | None = None
    for row, binding in reversed(passed):  # newest first: the newest exact match counts
        if binding is None:
            problems = [
                f"promotion #{row['id']} was made before promotions bound the whole run "
                "(symbol, costs, sizing, risk ...): promote again"
            ]
        else:
            problems = differences(binding, now)
            problems += _looser(binding.get("thresholds") or {}, thresholds)
        if not problems:
            return row, []
        if best is None or len(problems) < len(best[1]):
            best = (row, problems)
    assert best is not None
    row, problems = best
    return row, [
        f"{head}: the passed live promotion #{row['id']} does not bind this run: "
        + "; ".join(problems)
    ]


def _current_thresholds(settings: Any) -> dict[str, Any]:
    from nzeza.promotion.policy import policy_from

    return policy_from(getattr(settings, "gates", None)).record()


def _looser(promoted: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Thresholds the promotion was judged under that are looser than today's settings."""
    from nzeza.ops.gatesettings import DIRECTION, stricter

    out = []
    for name in DIRECTION:
        if (
            name in promoted
            and name in now
            and stricter(name, float(now[name]), float(promoted[name]))
        ):
            out.append(
                f"thresholds.{name}: promoted under {promoted[name]!r}, settings now "
                f"require {now[name]!r}"
            )
    return out


def require_live_promotion(
    ledger: Any, now: Mapping[str, Any], name: str, settings: Any = None
) -> dict[str, Any]:
    """The passed live promotion of exactly the run `now`, or `LiveTradingNotAllowed`."""
    row, problems = find_live_promotion(ledger, now, name, settings)
    if problems or row is None:
        raise LiveTradingNotAllowed(problems)
    return row


_EVENT_FIELDS = ("strategy", "params_hash", "target", "passed")


def promotion_evidence(report: Any, row: Mapping[str, Any]) -> list[str]:
    """Why the promotion `row` is not evidence the ledger vouches for (empty when it is): its
    row must match the audit chain (`report`, a verified `AuditReport`), and the chain must
    hold the promotion entry written with it, recording the same decision."""
    pid = int(row["id"])
    problems = [p.what for p in report.about("promotions", pid)]
    want = {f: (bool(row[f]) if f == "passed" else row[f]) for f in _EVENT_FIELDS}
    event = report.promotion_events.get(pid)
    if event is None:  # written before promotion entries named their row: match the decision
        older = [e for e in report.legacy_promotion_events if _fields(e) == want]
        event = older[-1] if older else None
    if event is None:
        problems.append("no promotion entry in the audit chain records it (written by hand?)")
    elif _fields(event) != want:
        problems.append(f"its audit entry records {_fields(event)}, the row says {want}")
    return [f"promotion #{pid}: {p}" for p in problems]


def _fields(event: Mapping[str, Any]) -> dict[str, Any]:
    return {f: event.get(f) for f in _EVENT_FIELDS}


def promotion_gate(
    ledger: Any, now: Mapping[str, Any], name: str, settings: Any = None
) -> tuple[str, list[str], str]:
    """The promotion gate alone: a passed live promotion binding exactly this run."""
    row, problems = find_live_promotion(ledger, now, name, settings)
    if problems or row is None:
        return ("promotion", problems, "")
    return ("promotion", [], f"promotion record #{row['id']} binds this run")


def integrity_gate(
    ledger: Any, now: Mapping[str, Any], name: str, settings: Any = None, shown: int = 5
) -> tuple[str, list[str], str]:
    """The ledger integrity gate: the keyed audit chain, every row it covers and its anchor
    verify, and the live promotion this run would rest on (if any) is the ledger's own — its
    row and its promotion entry in the chain agree. Lists the promotion's problems first,
    then up to `shown` others."""
    report = ledger.verify_audit()
    problems: list[str] = []
    row, _ = find_live_promotion(ledger, now, name, settings)
    named = None
    if row is not None:
        problems += promotion_evidence(report, row)
        named = report.about("promotions", row["id"])
    others = [str(p) for p in report.problems if not named or p not in named]
    more = len(others) - shown + report.more_problems
    problems += others[:shown]
    if more > 0:
        problems.append(f"... and {more} more")
    if not problems and not report.ok:
        problems.append(report.reason)
    if problems:
        problems = [f"ledger integrity: {p}" for p in problems]
        problems[-1] += "; see `nzeza audit verify`"
    passed = f"{report.rows} chain entries and {report.covered_rows} rows verified, {report.anchor}"
    return ("ledger integrity", problems, passed)


def settings_gate(settings: Any, feed: str | None = None) -> tuple[str, list[str], str]:
    """Endpoints, credentials, confirmation, the venue's feed."""
    from nzeza.engine.feedspec import VENUE_FEEDS

    problems = list(settings.live_problems())
    venue = settings.live_venue
    if venue is not None and venue not in VENUE_FEEDS:
        problems.append(
            f"{ENV}LIVE_VENUE={venue}: live sessions read their trades from "
            f"{', '.join(VENUE_FEEDS)} only"
        )
    if feed is not None and feed.strip().lower() != (venue or ""):
        problems.append(
            f"--feed {feed}: a live session trades on its venue's own feed "
            f"(--feed {venue or 'VENUE'} or no --feed), never on a recording or replay"
        )
    return ("live settings", problems, "endpoints, credentials and confirmation")


def live_gates(
    settings: Any,
    ledger: Any,
    now: Mapping[str, Any],
    name: str,
    feed: str | None = None,
) -> list[tuple[str, list[str], str]]:
    """Every live gate as (name, problems, what passing means): the CLI refuses on any problem,
    a notebook shows each gate passed or failed. One list, so both always check the same.
    `now` is the run's binding (`live_binding`), `name` the strategy as given."""
    return [
        settings_gate(settings, feed),
        promotion_gate(ledger, now, name, settings),
        integrity_gate(ledger, now, name, settings),
    ]


def live_problems(
    settings: Any, ledger: Any, now: Mapping[str, Any], name: str, feed: str | None = None
) -> list[str]:
    """Every reason this live session may not start (empty when it may)."""
    gates = live_gates(settings, ledger, now, name, feed)
    return [problem for _, problems, _ in gates for problem in problems]


def check_plan(settings: Any, ledger: Any, plan: Any) -> None:
    """Every live gate for the `SessionPlan` `plan`: what `open_session` runs before a live
    session is built (`LiveTradingNotAllowed` naming every failed gate)."""
    require_live(settings, ledger, plan_binding(settings, plan), plan.strategy_name, plan.feed)


def require_live(
    settings: Any, ledger: Any, now: Mapping[str, Any], name: str, feed: str | None = None
) -> None:
    """Raise `LiveTradingNotAllowed` naming every failed gate, or return."""
    problems = live_problems(settings, ledger, now, name, feed)
    if problems:
        raise LiveTradingNotAllowed(problems)


__all__ = [
    "check_plan",
    "find_live_promotion",
    "integrity_gate",
    "live_binding",
    "live_gates",
    "live_problems",
    "plan_binding",
    "promotion_evidence",
    "promotion_gate",
    "require_live",
    "require_live_promotion",
    "settings_gate",
]
