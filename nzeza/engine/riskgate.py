"""The risk gate of a session: the risk engine on every order the session would send.

A session asks `decide(side, quantity, price, ts)` before it journals an intent; the answer is
the engine's `Decision` (accept, amend to a smaller size, split into TWAP children, reject).
The gate builds the context from the session — its portfolio, its working orders, the order's
expected fill price (the `Costs` convention: a market buy is valued at price × (1 + slippage),
so a limit on notional holds for what actually fills) and the exchange time of the trade that
priced it — and journals what it decides: rejections, and resizes with what they became, go to
the ledger's risk events and the `nzeza_risk_rejections_total` metric.

`risk_config(settings.risk)` turns the settings' risk section (values only) into the engine's
`RiskConfig`. Limits apply to paper and live sessions; replay (research parity) runs without.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.domain import Costs, Instrument, Order, OrderType, TimeInForce
from nzeza.domain.intent import OrderIntent
from nzeza.errors import RiskRejected
from nzeza.ops.logging import get_logger
from nzeza.ops.risksettings import DEFAULT_RISK, RiskSettings
from nzeza.risk import Action, Decision, RiskConfig, RiskContext, RiskEngine

if TYPE_CHECKING:
    from nzeza.ops.metrics import Metrics
    from nzeza.store import Ledger


log = get_logger("nzeza.engine.session")


def risk_config(risk: RiskSettings | None = None, kill_file: Any = None) -> RiskConfig:
    """The engine's `RiskConfig` for the settings' risk section (the defaults when None)."""
    risk = risk if risk is not None else DEFAULT_RISK
    # the settings give limits as text ("250000" or "5%"): RiskConfig parses them
    limits: dict[str, Any] = {
        "max_order_notional": risk.max_order_notional,
        "max_gross_exposure": risk.max_position_notional,
        "daily_loss_limit": risk.max_daily_loss,
    }
    return settings_risk_config(
        risk,
        limits,
        kill_file,
        max_open_positions=risk.max_open_positions,
        on_size_breach=risk.on_breach,
    )


def settings_risk_config(
    risk: RiskSettings,
    limits: dict[str, Any],
    kill_file: Any,
    *,
    max_open_positions: int | None,
    on_size_breach: str,
) -> RiskConfig:
    """A validated `RiskConfig` of the exposure `limits` (text, as the settings give them) and
    the checks every session has from the settings' risk section: daily-loss flattening
    (only with a daily-loss limit), slippage, price band, open orders, order rate (per
    second), the kill file; `max_open_positions` and `on_size_breach` as the session kind
    takes them (single-symbol and portfolio sessions read different settings)."""
    return RiskConfig(
        **limits,
        flatten_on_daily_loss=risk.flatten_on_daily_loss and risk.max_daily_loss is not None,
        max_slippage_bps=risk.max_slippage_bps,
        price_band_bps=risk.price_band_bps,
        max_open_positions=max_open_positions,
        max_open_orders=risk.max_open_orders,
        max_orders_per_window=risk.max_orders_per_second,
        rate_window_s=1.0,
        on_size_breach=on_size_breach,
        kill_file=kill_file,
    ).validate()


def mark_breaker(
    engine: RiskEngine, context: RiskContext, record: Callable[..., None], now_ns: int
) -> tuple[OrderIntent, ...]:
    """Mark to market at a bar close: the daily-loss breaker's update (`engine.on_event`).
    When the breaker trips now, `record` gets the risk event (`daily_loss`, its limit, the
    loss, what it does). The flatten intents (none unless it trips with flattening on)."""
    breaker = engine.breaker
    was = bool(breaker and breaker.tripped)
    flatten = engine.on_event(context)
    if breaker is not None and breaker.tripped and not was:
        what = f"flattening {len(flatten)} position(s)" if flatten else "no new risk"
        record("daily_loss", breaker.limit, breaker.last_loss, f"breaker tripped: {what}", now_ns)
    return flatten


def restore_risk_state(
    engine: RiskEngine, ledger: Any, session_id: str, init_cash: Decimal, last_bar_ts: int | None
) -> None:
    """A resumed session's risk state from its ledger, as an uninterrupted run had it after
    `last_bar_ts` (the last bar it processed):

    - the daily-loss breaker's period: its baseline is the PnL at the period's first bar close
      (that bar's equity snapshot − the starting cash: the marks the breaker was fed), its
      limit resolved on that equity when given as a share, and tripped when the ledger records
      it tripping in that period;
    - the order-rate window: the exchange times of the orders sent within one window of the
      newest (each order's first fill: a paper fill is stamped with the trade that priced it,
      a venue's with its own time; an order that never filled is not counted)."""
    if last_bar_ts is None:
        return
    breaker = engine.breaker
    if breaker is not None:
        key = breaker._key(last_bar_ts)
        curve = ledger.equity_curve(session_id)
        first = next((eq for ts, eq in curve if breaker._key(ts) == key), None)
        if first is not None:
            from nzeza.risk.config import EquityShare

            breaker.period_key, breaker.baseline = key, Decimal(first) - init_cash
            share = engine.config.daily_loss_limit
            if isinstance(share, EquityShare):
                breaker.limit = share.resolve(Decimal(first))
            trips = [
                e["ts"]
                for e in ledger.risk_events(session_id)
                if e["check_name"] == "daily_loss"
                and str(e["detail"]).startswith("breaker tripped:")
                and breaker._key(e["ts"]) == key
            ]
            if trips:
                breaker.tripped, breaker.tripped_at_ns = True, trips[0]
    sent: dict[str, int] = {}
    for fill in ledger.fills(session_id):
        sent.setdefault(fill.order_id, int(fill.ts))
    if sent:
        newest = max(sent.values())
        window = int(engine.config.rate_window_s * 1e9)
        engine._sent.extend(sorted(t for t in sent.values() if t > newest - window))


class RiskGate:
    """Pre-trade risk for one session's instrument (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        session_id: str,
        instrument: Instrument,
        portfolio: Any,
        *,
        config: RiskConfig | None = None,
        costs: Costs | None = None,
        metrics: Metrics | None = None,
        open_orders: Callable[[], Iterable[Order]] = tuple,
    ) -> None:
        self.ledger = ledger
        self.session_id = session_id
        self.instrument = instrument
        self.portfolio = portfolio
        self.costs = costs
        self.metrics = metrics
        self.open_orders = open_orders
        self.config = config if config is not None else risk_config()
        self.engine = RiskEngine(self.config, {instrument.id: instrument}, journal=self._journal)

    def restore(self, init_cash: Decimal, last_bar_ts: int | None) -> None:
        """A resumed session's risk state from the ledger (`restore_risk_state`)."""
        restore_risk_state(self.engine, self.ledger, self.session_id, init_cash, last_bar_ts)

    # -- recording --------------------------------------------------------------------------
    def _journal(self, rejection: RiskRejected, intent: Any, now_ns: int) -> None:
        self.record(rejection.check, rejection.limit, rejection.value, rejection.detail, now_ns)

    def record(self, check: str, limit: Any, value: Any, detail: str, now_ns: int) -> None:
        """A risk event in the ledger (and the rejection counter of its check)."""
        self.ledger.record_risk_event(self.session_id, check, limit, value, detail, now_ns)
        if self.metrics is not None:
            self.metrics.risk_rejections.labels(check).inc()

    # -- deciding ---------------------------------------------------------------------------
    def context(self, side: str, price: Decimal, now_ns: int) -> RiskContext:
        inst = self.instrument.id
        fill = self.costs.fill_price(side, price) if self.costs is not None else price
        return RiskContext(
            self.portfolio.snapshot(),
            {inst: fill},
            now_ns,
            open_orders=tuple(self.open_orders()),
            reference_prices={inst: price},
        )

    def decide(
        self,
        side: str,
        quantity: Decimal,
        price: Decimal,
        now_ns: int,
        *,
        reduce_only: bool = False,
        tag: str = "",
        quiet: bool = False,
        order_type: str = "market",
        limit: Decimal | None = None,
    ) -> Decision:
        """Judge an order of `quantity` priced at `price` (the touch it was sized at).
        `quiet`: a resize is not recorded (a TWAP child trimmed within its parent's event).
        `order_type`/`limit`: an order policy's limit, post-only or stop order at `limit` (the
        slippage estimate is for market orders — takers — only)."""
        kind: dict[str, Any] = {}
        if order_type in ("limit", "post_only"):
            post = order_type == "post_only"
            kind = {"type": OrderType.LIMIT, "price": limit}
            kind["time_in_force"] = TimeInForce.POST_ONLY if post else TimeInForce.GTC
        elif order_type == "stop":
            kind = {"type": OrderType.STOP, "stop_price": limit}
        intent = OrderIntent(
            self.instrument.id, side, quantity, reduce_only=reduce_only, tag=tag, **kind
        )
        decision = self.engine.check(intent, self.context(side, price, now_ns))
        if decision.action in (Action.AMEND, Action.TWAP) and not quiet:
            became = (
                f"amended to {decision.intent.quantity}"
                if decision.action is Action.AMEND
                else f"TWAP of {decision.intent.quantity} in children of at most "
                f"{decision.max_child_qty}"
            )
            for breach in decision.resized:
                detail = f"{breach.detail}; " if breach.detail else ""
                self.record(
                    breach.check,
                    breach.limit,
                    breach.value,
                    f"{detail}order of {quantity} {became}",
                    now_ns,
                )
            log.warning(
                "order resized by risk",
                extra={"action": decision.action.value, "quantity": str(decision.intent.quantity)},
            )
        return decision

    def on_bar(self, price: Decimal, now_ns: int) -> tuple[OrderIntent, ...]:
        """Mark to market at a bar close: the daily-loss breaker's update. Returns the flatten
        intents when it trips now (flattening configured), recorded as a risk event."""
        return mark_breaker(self.engine, self.context("sell", price, now_ns), self.record, now_ns)

    def __call__(self, intent: Any) -> None:
        """The pre-trade hook form: raise `RiskRejected` unless the intent passes as it is."""
        d = self.decide(intent.side, intent.quantity, intent.reference_price, _now())
        if d.rejection is not None:
            raise d.rejection
        if d.action is not Action.ACCEPT:
            raise RiskRejected(d.resized[0].check, d.resized[0].limit, d.resized[0].value)


def _now() -> int:
    import time

    return time.time_ns()


def risk_hook(
    ledger: Ledger,
    session_id: str,
    instrument: Instrument,
    portfolio: Any,
    metrics: Metrics | None = None,
    config: RiskConfig | None = None,
    costs: Costs | None = None,
) -> RiskGate:
    """The gate a session runs its orders through (the settings' defaults when no config)."""
    return RiskGate(
        ledger, session_id, instrument, portfolio, config=config, costs=costs, metrics=metrics
    )


__all__ = [
    "RiskGate",
    "mark_breaker",
    "restore_risk_state",
    "risk_config",
    "risk_hook",
    "settings_risk_config",
]
