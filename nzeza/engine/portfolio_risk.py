"""Portfolio risk: the risk engine on every rebalancing order of a portfolio session.

A portfolio session trades several instruments from one cash balance; its orders are judged by
the same `RiskEngine` as a single-symbol session's, with the portfolio limits of the settings
(`portfolio_risk_config`): gross and net exposure over every position (each marked at its
symbol's current price), a cap on any one symbol's exposure, and the number of symbols held at
once, plus the order-size, daily-loss, rate and kill-switch checks every session has.

What a breach does: an order above an exposure or size limit is clipped to the largest size
every limit allows (AMEND; a portfolio rebalance is one order per symbol, never split into TWAP
children); an order the limits allow nothing of (a new symbol beyond the position count, a
halted session) is refused. Both are recorded as risk events in the ledger with the check, the
limit, the value and what the order became, and the refused order is journaled as a rejected
intent (never sent). `on_bar` marks the daily-loss breaker at each aligned close; when it trips
with flattening on, the session closes every position at the next open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.domain import Costs, Instrument
from nzeza.domain.intent import OrderIntent
from nzeza.engine.riskgate import mark_breaker, restore_risk_state, settings_risk_config
from nzeza.errors import RiskRejected
from nzeza.ops.risksettings import DEFAULT_RISK, RiskSettings
from nzeza.risk import Action, Decision, RiskConfig, RiskContext, RiskEngine
from nzeza.risk.config import EquityShare

if TYPE_CHECKING:
    from nzeza.ops.metrics import Metrics
    from nzeza.store import Ledger


def portfolio_risk_config(risk: RiskSettings | None = None, kill_file: Any = None) -> RiskConfig:
    """The engine's `RiskConfig` for a portfolio session from the settings' risk section.

    A net or per-symbol limit set above the gross one is taken at the gross one, an order
    notional above twice the gross (a full flip) at twice the gross: above, they could never
    bind, and tightening the gross alone must not make the settings invalid."""
    risk = risk if risk is not None else DEFAULT_RISK
    gross = risk.max_gross_exposure
    # the settings give limits as text ("250000" or "150%"): RiskConfig parses them
    limits: dict[str, Any] = {
        "max_order_notional": _at_most(risk.max_order_notional, _twice(gross)),
        "max_gross_exposure": gross,
        "max_net_exposure": _at_most(risk.max_net_exposure, gross),
        "max_instrument_exposure": _at_most(risk.max_symbol_exposure, gross),
        "daily_loss_limit": risk.max_daily_loss,
    }
    return settings_risk_config(
        risk,
        limits,
        kill_file,
        max_open_positions=risk.max_portfolio_positions,
        on_size_breach="reject" if risk.on_breach == "reject" else "amend",
    )


def _at_most(limit: str | None, gross: str | None) -> str | None:
    if limit is None or gross is None or limit.endswith("%") != gross.endswith("%"):
        return limit
    a = EquityShare.parse(limit).fraction if limit.endswith("%") else Decimal(limit)
    b = EquityShare.parse(gross).fraction if gross.endswith("%") else Decimal(gross)
    return gross if a > b else limit


def _twice(limit: str | None) -> str | None:
    if limit is None:
        return None
    if limit.endswith("%"):
        return f"{(Decimal(limit[:-1]) * 2).normalize():f}%"
    return f"{(Decimal(limit) * 2).normalize():f}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate made of one order: the quantity to send (0: refused) and why it changed
    (None when it passes as asked)."""

    quantity: Decimal
    reason: str | None
    decision: Decision


class PortfolioRiskGate:
    """Pre-trade risk for the instruments of one portfolio session (module docstring)."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        portfolio: Any,
        *,
        config: RiskConfig | None = None,
        costs: Costs | None = None,
        ledger: Ledger | None = None,
        session_id: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.instruments = dict(instruments)
        self.portfolio = portfolio
        self.costs = costs
        self.ledger = ledger
        self.session_id = session_id
        self.metrics = metrics
        self.config = config if config is not None else portfolio_risk_config()
        self.engine = RiskEngine(
            self.config, list(self.instruments.values()), journal=self._journal
        )

    # -- recording --------------------------------------------------------------------------
    def _journal(self, rejection: RiskRejected, intent: Any, now_ns: int) -> None:
        detail = f"{rejection.detail}; " if rejection.detail else ""
        self.record(
            rejection.check,
            rejection.limit,
            rejection.value,
            f"{detail}{intent.side} {intent.quantity} {intent.instrument_id} refused",
            now_ns,
        )

    def record(self, check: str, limit: Any, value: Any, detail: str, now_ns: int) -> None:
        if self.ledger is not None and self.session_id is not None:
            self.ledger.record_risk_event(self.session_id, check, limit, value, detail, now_ns)
        if self.metrics is not None:
            self.metrics.risk_rejections.labels(check).inc()

    # -- deciding ---------------------------------------------------------------------------
    def context(self, side: str, symbol: str, prices: Mapping[str, Decimal], now_ns: int) -> Any:
        """Every held or traded symbol marked at its current price; the order's own symbol at
        its expected fill price (the `Costs` convention, as the single-symbol gate)."""
        marks = {self.instruments[s].id: p for s, p in prices.items() if s in self.instruments}
        inst = self.instruments[symbol].id
        price = prices[symbol]
        fill = self.costs.fill_price(side, price) if self.costs is not None else price
        marks[inst] = fill
        return RiskContext(self.portfolio.snapshot(), marks, now_ns, reference_prices={inst: price})

    def on_bar(self, closes: Mapping[str, Decimal], now_ns: int) -> bool:
        """Mark to market at an aligned close: the daily-loss breaker's update. True when it
        trips now with flattening configured (recorded as a risk event): the session closes
        every position at the next open."""
        marks = {self.instruments[s].id: p for s, p in closes.items() if s in self.instruments}
        context = RiskContext(self.portfolio.snapshot(), marks, now_ns)
        return bool(mark_breaker(self.engine, context, self.record, now_ns))

    def restore(self, init_cash: Decimal, last_bar_ts: int | None) -> None:
        """A resumed session's risk state from the ledger (`riskgate.restore_risk_state`)."""
        if self.ledger is not None and self.session_id is not None:
            restore_risk_state(self.engine, self.ledger, self.session_id, init_cash, last_bar_ts)

    def decide(
        self,
        symbol: str,
        side: str,
        quantity: Decimal,
        prices: Mapping[str, Decimal],
        now_ns: int,
    ) -> Verdict:
        """Judge one rebalancing order of `quantity` units of `symbol` at `prices[symbol]`."""
        inst = self.instruments[symbol].id
        intent = OrderIntent(inst, side, quantity, tag="rebalance")
        decision = self.engine.check(intent, self.context(side, symbol, prices, now_ns))
        if decision.rejection is not None:
            r = decision.rejection
            reason = f"refused by {r.check} (limit {r.limit}, value {r.value})"
            return Verdict(Decimal(0), reason, decision)
        if decision.action is Action.ACCEPT:
            return Verdict(quantity, None, decision)
        qty = decision.intent.quantity
        reasons = []
        for breach in decision.resized:
            detail = f"{breach.detail}; " if breach.detail else ""
            self.record(
                breach.check,
                breach.limit,
                breach.value,
                f"{detail}{side} {quantity} {inst} clipped to {qty}",
                now_ns,
            )
            reasons.append(f"{breach.check} (limit {breach.limit}, value {breach.value})")
        return Verdict(qty, "clipped by " + "; ".join(reasons), decision)


__all__ = ["PortfolioRiskGate", "Verdict", "portfolio_risk_config"]
