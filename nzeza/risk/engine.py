"""The pre-trade risk engine: ordered, named checks over an intent and a context of values.

    engine = RiskEngine(RiskConfig(max_order_qty=Decimal(2)), instruments, journal=callback)
    decision = engine.check(intent, RiskContext(portfolio.snapshot(), marks, now_ns, ...))

Sans-I/O: the clock is `context.now_ns`, the book and the portfolio are values. The kill switch
and reduce-only mode run first, then the configured checks in order; the first failing check
rejects. Every rejection is a `RiskRejected(check, limit, value)`, counted per check in
`engine.rejections` and handed to the `journal` callback. Limits are inclusive: a value equal
to its limit passes (the daily-loss breaker is the exception: reaching the limit trips it).

"Reducing" below means the order moves the instrument's position toward zero without flipping
it; reducing orders pass the position, exposure, open-position and daily-loss checks, as they
only take risk off. Order size, rate and price-band limits apply to every order.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from nzeza.domain import Instrument, OrderType, Side, TimeInForce
from nzeza.domain.numbers import ZERO
from nzeza.errors import NzezaError, RiskRejected, ValidationError
from nzeza.risk.breaker import DailyLossBreaker
from nzeza.risk.config import RiskConfig
from nzeza.risk.decision import Action, Decision, RiskContext
from nzeza.risk.intent import OrderIntent, validate_intent
from nzeza.risk.killswitch import KillSwitch

BPS = Decimal(10_000)
Journal = Callable[[RiskRejected, OrderIntent, int], None]
Estimator = Callable[[Any, Side, Decimal], Any]


class _Reject(Exception):
    def __init__(self, rejection: RiskRejected) -> None:
        self.rejection = rejection


def _reject(check: str, limit: Any, value: Any, detail: str = "") -> _Reject:
    return _Reject(RiskRejected(check, limit, value, detail))


def reduces(position_qty: Decimal, signed_qty: Decimal) -> bool:
    """True when an order of `signed_qty` moves the position toward zero without flipping it."""
    return (
        position_qty != 0
        and (position_qty > 0) != (signed_qty > 0)
        and abs(signed_qty) <= abs(position_qty)
    )


class RiskEngine:
    """Runs the checks of `config` (validated here: a bad config fails at start-up)."""

    def __init__(
        self,
        config: RiskConfig,
        instruments: Mapping[str, Instrument] | list[Instrument],
        *,
        journal: Journal | None = None,
        kill_switch: KillSwitch | None = None,
        estimator: Estimator | None = None,
    ) -> None:
        self.config = config.validate()
        items = instruments.values() if isinstance(instruments, Mapping) else instruments
        self.instruments: dict[str, Instrument] = {i.id: i for i in items}
        self.journal = journal
        self.kill_switch = kill_switch or KillSwitch(config.kill_file)
        self.reduce_only = config.reduce_only
        self.rejections: Counter[str] = Counter()
        self.accepted = 0
        self.breaker = (
            DailyLossBreaker(config.daily_loss_limit, config.daily_loss_period)
            if config.daily_loss_limit is not None and "daily_loss" in config.checks
            else None
        )
        self._estimator = estimator
        self._sent: deque[int] = deque()
        self._window_ns = int(config.rate_window_s * 1e9)
        self._checks: dict[str, Callable[[OrderIntent, RiskContext, dict[str, Any]], None]] = {
            "instrument": self._instrument,
            "max_order_qty": self._max_order_qty,
            "max_order_notional": self._max_order_notional,
            "position_limit": self._position_limit,
            "gross_exposure": self._gross_exposure,
            "net_exposure": self._net_exposure,
            "max_open_positions": self._max_open_positions,
            "max_open_orders": self._max_open_orders,
            "daily_loss": self._daily_loss,
            "price_band": self._price_band,
            "order_rate": self._order_rate,
            "slippage": self._slippage,
        }
        for instrument_id in config.position_limits:
            if instrument_id not in self.instruments:
                from nzeza.errors import ConfigError

                raise ConfigError(
                    f"risk.position_limits[{instrument_id}]", "names an unknown instrument"
                )

    # -- per event --------------------------------------------------------------------------
    def on_event(self, ctx: RiskContext) -> tuple[OrderIntent, ...]:
        """Call on every market/fill event: polls the kill switch, updates the breaker.

        Returns flatten intents when the breaker trips now and flattening is configured.
        """
        self.kill_switch.engaged()
        return self._update_breaker(ctx)

    @property
    def halted(self) -> bool:
        """True when the kill switch is engaged or the daily-loss breaker has tripped."""
        return self.kill_switch.reason is not None or bool(self.breaker and self.breaker.tripped)

    def flatten_intents(self, ctx: RiskContext) -> tuple[OrderIntent, ...]:
        """Reduce-only market intents closing every open position."""
        out = []
        for iid, pos in sorted(ctx.portfolio.open_positions().items()):
            side = Side.SELL if pos.quantity > 0 else Side.BUY
            out.append(OrderIntent(iid, side, abs(pos.quantity), reduce_only=True, tag="flatten"))
        return tuple(out)

    # -- the check --------------------------------------------------------------------------
    def check(self, intent: OrderIntent, ctx: RiskContext) -> Decision:
        """Judge one intent. Never raises for a bad order: a rejection is a Decision."""
        ran: list[str] = []
        state: dict[str, Any] = {"action": Action.ACCEPT, "slippage": None}
        flatten: tuple[OrderIntent, ...] = ()
        try:
            ran.append("kill_switch")
            if self.kill_switch.engaged():
                raise _reject("kill_switch", "disengaged", "engaged", self.kill_switch.reason or "")
            flatten = self._update_breaker(ctx)
            ran.append("validation")
            try:
                intent = validate_intent(intent, self.instruments, self._price_or_none(intent, ctx))
            except ValidationError as exc:
                raise _reject("instrument", exc.reason, exc.value, f"field {exc.field}") from None
            state["reduces"] = reduces(
                ctx.portfolio.position(intent.instrument_id).quantity, intent.signed_qty
            )
            ran.append("reduce_only")
            if (self.reduce_only or intent.reduce_only) and not state["reduces"]:
                pos = ctx.portfolio.position(intent.instrument_id).quantity
                mode = "reduce-only mode" if self.reduce_only else "reduce_only order"
                raise _reject("reduce_only", f"|position| {abs(pos)}", intent.signed_qty, mode)
            state["intent"] = intent
            for name in self.config.checks:
                ran.append(name)
                self._checks[name](state["intent"], ctx, state)
        except _Reject as r:
            self.rejections[r.rejection.check] += 1
            if self.journal is not None:
                self.journal(r.rejection, intent, ctx.now_ns)
            return Decision(
                Action.REJECT, intent, r.rejection, state["slippage"], tuple(ran), flatten
            )
        self.accepted += 1
        self._sent.append(ctx.now_ns)
        return Decision(
            state["action"], state["intent"], None, state["slippage"], tuple(ran), flatten
        )

    # -- helpers ----------------------------------------------------------------------------
    def _update_breaker(self, ctx: RiskContext) -> tuple[OrderIntent, ...]:
        if self.breaker is None:
            return ()
        try:
            pnl = total_pnl(ctx)
        except ValidationError:
            return ()  # a missing mark is reported by the daily_loss check itself
        if self.breaker.update(pnl, ctx.now_ns) and self.config.flatten_on_daily_loss:
            return self.flatten_intents(ctx)
        return ()

    def _price_or_none(self, intent: OrderIntent, ctx: RiskContext) -> Decimal | None:
        if intent.price is not None:
            return Decimal(intent.price)
        if intent.stop_price is not None:
            return Decimal(intent.stop_price)
        mark = ctx.marks.get(intent.instrument_id)
        if mark is not None:
            return Decimal(mark)
        return _mid(ctx.book)

    def _price(self, check: str, intent: OrderIntent, ctx: RiskContext) -> Decimal:
        price = self._price_or_none(intent, ctx)
        if price is None:
            raise _reject(check, "a price", None, f"no mark or book for {intent.instrument_id}")
        return price

    # -- the checks (each raises _Reject or returns) ----------------------------------------
    def _instrument(self, intent: OrderIntent, ctx: RiskContext, state: dict[str, Any]) -> None:
        # Grid, minimums and known symbol were checked by validate_intent before any check
        # ran; a market order also needs a price to be judged against the other limits.
        self._price("instrument", intent, ctx)

    def _max_order_qty(self, intent: OrderIntent, ctx: RiskContext, state: dict[str, Any]) -> None:
        limit = self.config.max_order_qty
        if limit is not None and intent.quantity > limit:
            raise _reject("max_order_qty", limit, intent.quantity)

    def _max_order_notional(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_order_notional
        if limit is not None:
            notional = intent.quantity * self._price("max_order_notional", intent, ctx)
            if notional > limit:
                raise _reject("max_order_notional", limit, notional)

    def _position_limit(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.position_limits.get(intent.instrument_id)
        if limit is None or state["reduces"]:
            return
        # Open orders on the same side count as if filled: the worst case, not the hope.
        pending = sum(
            (
                o.remaining_qty * o.side.sign
                for o in ctx.open_orders
                if o.instrument.id == intent.instrument_id and o.side == intent.side
            ),
            ZERO,
        )
        projected = ctx.portfolio.position(intent.instrument_id).quantity + pending
        projected += intent.signed_qty
        if abs(projected) > limit:
            raise _reject("position_limit", limit, abs(projected), intent.instrument_id)

    def _exposure_after(self, intent: OrderIntent, ctx: RiskContext) -> tuple[Decimal, Decimal]:
        try:
            exposure = ctx.portfolio.exposure(ctx.marks)
        except ValidationError as exc:
            raise _reject("gross_exposure", "marks for open positions", exc.value) from None
        price = self._price("gross_exposure", intent, ctx)
        before = exposure.by_instrument.get(intent.instrument_id, ZERO)
        pos = ctx.portfolio.position(intent.instrument_id).quantity
        mark = Decimal(ctx.marks.get(intent.instrument_id, price))
        after = (pos + intent.signed_qty) * mark
        gross = exposure.gross - abs(before) + abs(after)
        net = exposure.net - before + after
        return gross, net

    def _gross_exposure(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_gross_exposure
        if limit is None or state["reduces"]:
            return
        gross, _ = self._exposure_after(intent, ctx)
        if gross > limit:
            raise _reject("gross_exposure", limit, gross)

    def _net_exposure(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_net_exposure
        if limit is None or state["reduces"]:
            return
        _, net = self._exposure_after(intent, ctx)
        if abs(net) > limit:
            raise _reject("net_exposure", limit, abs(net))

    def _max_open_positions(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_open_positions
        if limit is None:
            return
        open_ids = set(ctx.portfolio.open_positions())
        if intent.instrument_id not in open_ids and len(open_ids) + 1 > limit:
            raise _reject("max_open_positions", limit, len(open_ids) + 1)

    def _max_open_orders(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_open_orders
        if limit is not None:
            count = sum(1 for o in ctx.open_orders if o.is_open) + 1
            if count > limit:
                raise _reject("max_open_orders", limit, count)

    def _daily_loss(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        if self.breaker is None or state["reduces"]:
            return
        if self.breaker.baseline is None:  # pnl could not be computed (missing mark)
            try:
                total_pnl(ctx)
            except ValidationError as exc:
                raise _reject(
                    "daily_loss", self.breaker.limit, None, f"no mark: {exc.value}"
                ) from None
        if self.breaker.tripped:
            raise _reject(
                "daily_loss", self.breaker.limit, self.breaker.last_loss, "breaker tripped"
            )

    def _price_band(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        band = self.config.price_band_bps
        price = intent.price if intent.price is not None else intent.stop_price
        if band is None or price is None:
            return
        ref = ctx.reference_prices.get(intent.instrument_id) or ctx.marks.get(intent.instrument_id)
        ref = Decimal(ref) if ref is not None else _mid(ctx.book)
        if ref is None:
            raise _reject("price_band", band, None, "no reference price")
        deviation = abs(Decimal(price) / ref - 1) * BPS
        if deviation > band:
            raise _reject("price_band", band, deviation.quantize(Decimal("0.01")), f"ref {ref}")

    def _order_rate(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_orders_per_window
        if limit is None:
            return
        horizon = ctx.now_ns - self._window_ns
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
        if len(self._sent) + 1 > limit:
            raise _reject(
                "order_rate", limit, len(self._sent) + 1, f"per {self.config.rate_window_s}s"
            )

    def _slippage(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_slippage_bps
        if limit is None or intent.type is not OrderType.MARKET or ctx.book is None:
            return
        estimator = self._estimator
        if estimator is None:
            # Injected by the engine normally; this default keeps the risk layer usable alone.
            from nzeza.execution.slippage import estimate_slippage as estimator
        side = Side(intent.side)
        try:
            est = estimator(ctx.book, side, intent.quantity)
            state["slippage"] = est
            value, detail = est.slippage_bps, f"{est.levels} levels"
        except NzezaError as exc:  # InsufficientLiquidity: slippage is unbounded
            value, detail = None, str(exc)
        if value is not None and value <= limit:
            return
        how = self.config.on_slippage_breach
        mid = _mid(ctx.book)
        if how == "reject" or mid is None:
            raise _reject("slippage", limit, value, detail)
        if how == "twap":
            state["action"] = Action.TWAP
            return
        inst = self.instruments[intent.instrument_id]
        edge = mid * (1 + side.sign * limit / BPS)
        price = inst.make_price(edge, ROUND_DOWN if side is Side.BUY else ROUND_UP)
        state["intent"] = intent.with_changes(
            type=OrderType.LIMIT, price=price, time_in_force=TimeInForce.IOC
        )
        state["action"] = Action.AMEND


def total_pnl(ctx: RiskContext) -> Decimal:
    """Realized + unrealized − fees over all positions, in the portfolio currency."""
    snap = ctx.portfolio
    realized = sum((p.realized_pnl - p.fees for p in snap.positions.values()), ZERO)
    return realized + snap.unrealized_pnl(ctx.marks)


def _mid(book: Any) -> Decimal | None:
    if book is None:
        return None
    from nzeza.risk.booklike import top_of_book

    top = top_of_book(book)
    if top is None:
        return None
    (bid, _), (ask, _) = top
    return (bid + ask) / 2
