"""What a promotion binds: the whole run, so that live starts only the run that was judged.

A binding is a plain dict, stored as canonical JSON in the promotion's row (on the audit chain):

    run fields (compared field by field when a live session starts)
      strategy   the identity: class path + source hash (`nzeza.strategies.identity`)
      params     every parameter, defaults filled in
      symbol     the instrument as the session names it (BTC/USDT); a portfolio's symbols in
                 order, comma-separated (BTC/USDT,ETH/USDT): every symbol it trades
      venue      where it trades (the live venue; `paper` for a paper promotion)
      timeframe  the bar timeframe (the verdict's)
      fee, slippage   the costs assumed (fee = the taker rate)
      maker, tiers    only when the costs have a maker rate ≠ taker or volume tiers (absent in
                      single-rate bindings, so promotions made before them verify unchanged)
      sizing     {cash (paper only), vol_target, vol_lookback}
      risk       the resolved risk settings (`risk_config_record`), account fraction included
      perp       only for a perpetual run: {venue, leverage, maintenance_margin_rate,
                 max_leverage} (`perp_record`); absent for spot runs (bindings made before it
                 verify unchanged), so a spot promotion never binds a perpetual session and
                 one at 3× never binds a session at 5×
    evidence fields (recorded: what the decision rests on)
      verdict_id, dataset (the verdict's data fingerprint), gate_data (the bars the
      lookahead and parity gates ran on), notebook_hash, thresholds (the gate policy, with
      every threshold the settings loosened), paper_session (the session the paper gate judged),
      funding_data (a perpetual: the digest of the funding history its gates ran on)

`differences(promoted, now)` names every run field that differs, as
`symbol: promoted BTC/USDT, now ETH/USDT`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RUN_FIELDS = (
    "strategy",
    "params",
    "symbol",
    "venue",
    "timeframe",
    "fee",
    "slippage",
    "maker",
    "tiers",
    "orders",
    "sizing",
    "risk",
    "perp",
)
EVIDENCE_FIELDS = (
    "verdict_id",
    "dataset",
    "gate_data",
    "notebook_hash",
    "thresholds",
    "paper_session",
    "funding_data",
)


def strategy_of(strategy: Any) -> tuple[str, dict[str, Any]]:
    """The identity (class path + source hash) and the full parameters of a strategy."""
    from nzeza.strategies.identity import identify

    who = identify(strategy)
    return who.identity, dict(who.params)


def market_symbol(symbol: str) -> str:
    """A symbol in any venue's spelling as the session names it (BTCUSDT → BTC/USDT); a
    portfolio's comma-separated symbols each so (BTCUSDT,ETHUSDT → BTC/USDT,ETH/USDT)."""
    from nzeza.engine.runner import session_instrument

    parts = [p.strip() for p in str(symbol).split(",") if p.strip()]
    if len(parts) > 1:
        return ",".join(session_instrument(p).symbol for p in parts)
    return session_instrument(symbol).symbol


def sizing_record(cash: Any = None, vol_targeting: Any = None) -> dict[str, Any]:
    return {
        "cash": None if cash is None else f"{float(cash):g}",
        "vol_target": None if vol_targeting is None else float(vol_targeting.target_vol),
        "vol_lookback": None if vol_targeting is None else int(vol_targeting.lookback),
    }


def perp_record(
    venue: str, leverage: Any, maintenance_margin_rate: Any, max_leverage: Any
) -> dict[str, str]:
    """A perpetual run's terms as a binding holds them (one spelling for the promotion and
    the session: each number through float, e.g. "3.0", "0.005")."""
    return {
        "venue": str(venue),
        "leverage": repr(float(leverage)),
        "maintenance_margin_rate": repr(float(maintenance_margin_rate)),
        "max_leverage": repr(float(max_leverage)),
    }


def run_binding(
    strategy: Any,
    *,
    symbol: str,
    venue: str,
    timeframe: str,
    costs: Any,
    cash: Any = None,
    vol_targeting: Any = None,
    risk: Any = None,
    perp: dict[str, str] | None = None,
    orders: Any = None,
) -> dict[str, Any]:
    """The run fields of a session about to run (or being promoted); `perp` (`perp_record`)
    for a perpetual run only. Its order policy (`orders`, else the strategy's own) only when it
    is not market: a market run's binding is what it always was, and a promotion of market
    orders does not cover limit ones."""
    from nzeza.ops.risksettings import risk_config_record
    from nzeza.research.orders import policy_of

    policy = policy_of(strategy, orders)

    identity, params = strategy_of(strategy)
    cost_fields = costs.record() if hasattr(costs, "record") else {
        "fee": float(costs.fee), "slippage": float(costs.slippage)
    }  # fmt: skip
    return {
        "strategy": identity,
        "params": _plain(params),
        "symbol": market_symbol(symbol),
        "venue": str(venue),
        "timeframe": str(timeframe),
        **cost_fields,
        **({} if policy.is_market else {"orders": policy.record()}),
        "sizing": sizing_record(cash, vol_targeting),
        "risk": risk_config_record(risk),
        **({} if perp is None else {"perp": perp}),
    }


def _plain(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flat(f"{prefix}.{key}", value[key]))
        return out or {prefix: {}}
    return {prefix: value}


def _show(value: Any) -> str:
    """A bound value as the refusal prints it (None: a limit or a sizing rule that is off)."""
    return "off" if value is None else str(value)


def differences(promoted: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Every run field on which `now` differs from `promoted`, named with both values."""
    out: list[str] = []
    for name in RUN_FIELDS:
        was, got = _flat(name, _plain(promoted.get(name))), _flat(name, _plain(now.get(name)))
        for key in sorted(set(was) | set(got)):
            a, b = was.get(key, "(absent)"), got.get(key, "(absent)")
            if a != b:
                out.append(f"{key}: promoted {_show(a)}, now {_show(b)}")
    return out


__all__ = [
    "EVIDENCE_FIELDS",
    "RUN_FIELDS",
    "differences",
    "market_symbol",
    "perp_record",
    "run_binding",
    "sizing_record",
    "strategy_of",
]
