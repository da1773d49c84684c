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

Size limits (order quantity and notional, position, gross and net exposure) reject by default;
with `on_size_breach="amend"` the order is reduced to the largest quantity every size limit
allows (AMEND), with "twap" an order above the per-order limits becomes a TWAP parent whose
`Decision.max_child_qty` each child must stay within (exposure limits still reduce the parent).
The reduced or child-sized order is checked again by every configured check before it is
accepted. Limits given as a share of equity are resolved at each check against the equity of
the portfolio at the marks (the intent's own price marks its instrument when no mark is given).

`check` never raises: a value it cannot judge (a zero or non-finite price, a quantity beyond
Decimal's precision, a wrong type) is a rejection by the check that met it ("instrument" while
the intent is validated, "internal" if nothing more specific applies).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from nzeza.domain import Instrument, OrderType, Side, TimeInForce
from nzeza.domain.intent import OrderIntent, validate_intent
from nzeza.domain.numbers import ZERO
from nzeza.errors import NzezaError, RiskRejected, ValidationError, clip
from nzeza.execution.slippage import estimate_slippage
from nzeza.risk.config import EquityShare, Limit, RiskConfig
from nzeza.risk.dailyloss import DailyLossBreaker
from nzeza.risk.decision import Action, Decision, RiskContext
from nzeza.risk.killswitch import KillSwitch

BPS = Decimal(10_000)
Journal = Callable[[RiskRejected, OrderIntent, int], None]
Estimator = Callable[[Any, Side, Decimal], Any]


# Checks whose breach an order can be resized out of, and which of them bound one order
# (a TWAP child must stay within these) rather than the position it builds.
ORDER_SIZE_CHECKS = ("max_order_qty", "max_order_notional")
EXPOSURE_CHECKS = ("position_limit", "instrument_exposure", "gross_exposure", "net_exposure")


class _Reject(Exception):
    def __init__(self, rejection: RiskRejected, cap: Decimal | None = None) -> None:
        self.rejection = rejection
        self.cap = cap  # the largest quantity this check allows, for a resize (None: none)


def _reject(
    check: str, limit: Any, value: Any, detail: str = "", cap: Decimal | None = None
) -> _Reject:
    return _Reject(RiskRejected(check, limit, value, detail), cap)


def _usable(price: Any) -> Decimal | None:
    """A price the checks can compute with: a finite, positive Decimal (else None)."""
    try:
        d = price if isinstance(price, Decimal) else Decimal(str(price))
    except (ArithmeticError, ValueError, TypeError):
        return None
    return d if d.is_finite() and d > 0 else None


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
        loss = config.daily_loss_limit
        self.breaker = (
            # a share of equity is resolved at the first update of each period
            DailyLossBreaker(
                Decimal("Infinity") if isinstance(loss, EquityShare) else loss,
                config.daily_loss_period,
            )
            if loss is not None and "daily_loss" in config.checks
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
            "instrument_exposure": self._instrument_exposure,
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
        Never raises: a context it cannot value (a missing or unusable mark) changes nothing.
        """
        self.kill_switch.engaged()
        try:
            return self._update_breaker(ctx)
        except (ArithmeticError, NzezaError, ValueError, TypeError):
            return ()

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
        """Judge one intent. Never raises: anything it cannot accept is a REJECT decision."""
        ran: list[str] = []
        state: dict[str, Any] = {"action": Action.ACCEPT, "slippage": None}
        flatten: tuple[OrderIntent, ...] = ()
        max_child: Decimal | None = None
        try:
            try:
                ran.append("kill_switch")
                if self.kill_switch.engaged():
                    reason = self.kill_switch.reason or ""
                    raise _reject("kill_switch", "disengaged", "engaged", reason)
                flatten = self._update_breaker(ctx)
                ran.append("validation")
                intent = self._validated(intent, ctx)
                state["intent"] = intent
                state["reduces"] = reduces(
                    ctx.portfolio.position(intent.instrument_id).quantity, intent.signed_qty
                )
                ran.append("reduce_only")
                if (self.reduce_only or intent.reduce_only) and not state["reduces"]:
                    pos = ctx.portfolio.position(intent.instrument_id).quantity
                    mode = "reduce-only mode" if self.reduce_only else "reduce_only order"
                    raise _reject("reduce_only", f"|position| {abs(pos)}", intent.signed_qty, mode)
                caps = self._run_checks(intent, ctx, state, ran, soft=True)
                if caps:
                    max_child = self._resize(intent, ctx, state, caps, ran)
            except _Reject:
                raise
            except Exception as exc:  # a value no check could judge: never an exception out
                raise self._unjudgeable(ran, exc) from None
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
            state["action"],
            state["intent"],
            None,
            state["slippage"],
            tuple(ran),
            flatten,
            max_child,
            state.get("resized", ()),
        )

    def _validated(self, intent: OrderIntent, ctx: RiskContext) -> OrderIntent:
        try:
            return validate_intent(intent, self.instruments, self._price_or_none(intent, ctx))
        except ValidationError as exc:
            raise _reject("instrument", exc.reason, exc.value, f"field {exc.field}") from None
        except ArithmeticError:  # e.g. a quantity beyond Decimal's precision on the lot grid
            raise _reject(
                "instrument", "a quantity on the lot grid", intent.quantity, "field quantity"
            ) from None

    def _run_checks(
        self,
        intent: OrderIntent,
        ctx: RiskContext,
        state: dict[str, Any],
        ran: list[str],
        *,
        soft: bool,
    ) -> dict[str, tuple[Decimal, _Reject]]:
        """Run the configured checks. With `soft` and a resizing `on_size_breach`, a size check
        that has a positive cap is collected (name → (cap, rejection)) instead of rejecting."""
        caps: dict[str, tuple[Decimal, _Reject]] = {}
        resizable = soft and self.config.on_size_breach != "reject"
        for name in self.config.checks:
            ran.append(name)
            try:
                self._checks[name](state["intent"], ctx, state)
            except _Reject as r:
                sized = name in ORDER_SIZE_CHECKS or name in EXPOSURE_CHECKS
                if resizable and sized and r.cap is not None and r.cap > 0:
                    caps[name] = (r.cap, r)
                    continue
                raise
        return caps

    def _resize(
        self,
        intent: OrderIntent,
        ctx: RiskContext,
        state: dict[str, Any],
        caps: dict[str, tuple[Decimal, _Reject]],
        ran: list[str],
    ) -> Decimal | None:
        """AMEND (or TWAP) an intent that breached size limits; check the result again.

        Returns the largest child quantity for a TWAP decision (None for AMEND)."""
        intent = state["intent"]  # as the checks left it (the slippage check may amend it)
        inst = self.instruments[intent.instrument_id]
        first = next(iter(caps.values()))[1]  # the breach reported if no size is allowed
        exposure = [cap for n, (cap, _) in caps.items() if n in EXPOSURE_CHECKS]
        per_order = [cap for n, (cap, _) in caps.items() if n in ORDER_SIZE_CHECKS]
        parent = min([intent.quantity, *exposure])
        child = min(per_order) if per_order else None
        twap = self.config.on_size_breach == "twap" and child is not None and parent > child
        size = child if child is not None and (twap or child < parent) else parent
        price = self._price("instrument", intent, ctx)

        def tradable(qty: Decimal) -> Decimal | None:
            q = inst.make_qty(qty, ROUND_DOWN)
            ok = q > 0 and q >= inst.min_qty and q * price >= inst.min_notional
            return q if ok else None

        sized = tradable(size)
        parent_q = tradable(parent) if twap else sized
        if sized is None or parent_q is None:
            raise first
        probe = intent.with_changes(quantity=sized)
        state["intent"] = probe
        state["reduces"] = reduces(
            ctx.portfolio.position(intent.instrument_id).quantity, probe.signed_qty
        )
        self._run_checks(probe, ctx, state, ran, soft=False)  # every limit holds for it now
        state["resized"] = tuple(r.rejection for _, r in caps.values())
        if twap:
            state["intent"], state["action"] = intent.with_changes(quantity=parent_q), Action.TWAP
            return sized
        state["action"] = Action.AMEND
        return None

    def _unjudgeable(self, ran: list[str], exc: Exception) -> _Reject:
        check = ran[-1] if ran else "internal"
        if check in ("validation", "reduce_only", "kill_switch"):
            check = "instrument" if check == "validation" else "internal"
        detail = clip(f"cannot judge: {type(exc).__name__}: {exc}", 200)
        return _reject(check, "a value it can judge", None, detail)

    # -- helpers ----------------------------------------------------------------------------
    def _update_breaker(self, ctx: RiskContext) -> tuple[OrderIntent, ...]:
        if self.breaker is None:
            return ()
        try:
            pnl = total_pnl(ctx)
        except ValidationError:
            return ()  # a missing mark is reported by the daily_loss check itself
        share = self.config.daily_loss_limit
        if isinstance(share, EquityShare) and self.breaker.starts_period(ctx.now_ns):
            equity = self._equity_or_none(ctx, None)
            if equity is None:
                return ()  # no equity to size the limit from: the check reports it
            self.breaker.limit = share.resolve(equity)
        if self.breaker.update(pnl, ctx.now_ns) and self.config.flatten_on_daily_loss:
            return self.flatten_intents(ctx)
        return ()

    def _price_or_none(self, intent: OrderIntent, ctx: RiskContext) -> Decimal | None:
        """The price an intent is valued at: its limit or stop price, else the mark, else the
        book's mid; None when there is none, or none a check can compute with."""
        if intent.price is not None:
            return _usable(intent.price)
        if intent.stop_price is not None:
            return _usable(intent.stop_price)
        mark = ctx.marks.get(intent.instrument_id)
        if mark is not None:
            return _usable(mark)
        return _mid(ctx.book)

    def _price(self, check: str, intent: OrderIntent, ctx: RiskContext) -> Decimal:
        price = self._price_or_none(intent, ctx)
        if price is None:
            raise _reject(
                check, "a price", None, f"no usable mark or book for {intent.instrument_id}"
            )
        return price

    def _mark(self, intent: OrderIntent, ctx: RiskContext, check: str) -> Decimal:
        """The mark of the intent's instrument (its own price when there is no usable mark)."""
        mark = _usable(ctx.marks.get(intent.instrument_id))
        return mark if mark is not None else self._price(check, intent, ctx)

    def _equity_or_none(self, ctx: RiskContext, intent: OrderIntent | None) -> Decimal | None:
        marks = {k: v for k, v in ctx.marks.items() if _usable(v) is not None}
        if intent is not None and intent.instrument_id not in marks:
            price = self._price_or_none(intent, ctx)
            if price is not None:
                marks[intent.instrument_id] = price
        try:
            return ctx.portfolio.equity(marks)
        except (ValidationError, ArithmeticError):
            return None

    def _amount(self, check: str, limit: Limit, intent: OrderIntent, ctx: RiskContext) -> Decimal:
        """A money limit in the portfolio currency (a share of equity resolved now)."""
        if not isinstance(limit, EquityShare):
            return limit
        equity = self._equity_or_none(ctx, intent)
        if equity is None:
            raise _reject(check, str(limit), None, "no equity to resolve the limit against")
        return limit.resolve(equity)

    # -- the checks (each raises _Reject or returns) ----------------------------------------
    def _instrument(self, intent: OrderIntent, ctx: RiskContext, state: dict[str, Any]) -> None:
        # Grid, minimums and known symbol were checked by validate_intent before any check
        # ran; a market order also needs a price to be judged against the other limits.
        self._price("instrument", intent, ctx)

    def _max_order_qty(self, intent: OrderIntent, ctx: RiskContext, state: dict[str, Any]) -> None:
        limit = self.config.max_order_qty
        if limit is not None and intent.quantity > limit:
            raise _reject("max_order_qty", limit, intent.quantity, cap=limit)

    def _max_order_notional(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_order_notional
        if limit is not None:
            amount = self._amount("max_order_notional", limit, intent, ctx)
            price = self._price("max_order_notional", intent, ctx)
            notional = intent.quantity * price
            if notional > amount:
                raise _reject(
                    "max_order_notional",
                    _shown(limit, amount),
                    notional,
                    cap=amount / price,
                )

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
        base = ctx.portfolio.position(intent.instrument_id).quantity + pending
        projected = base + intent.signed_qty
        if abs(projected) > limit:
            cap = limit - base if intent.signed_qty > 0 else limit + base
            raise _reject("position_limit", limit, abs(projected), intent.instrument_id, cap)

    def _instrument_exposure(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_instrument_exposure
        if limit is None or state["reduces"]:
            return
        amount = self._amount("instrument_exposure", limit, intent, ctx)
        mark = self._mark(intent, ctx, "instrument_exposure")
        pos = ctx.portfolio.position(intent.instrument_id).quantity
        after = abs((pos + intent.signed_qty) * mark)
        if after > amount:
            room = amount / mark  # |position after| may be at most this
            cap = room - pos if intent.signed_qty > 0 else room + pos
            raise _reject(
                "instrument_exposure", _shown(limit, amount), after, intent.instrument_id, cap
            )

    def _exposure_after(
        self, intent: OrderIntent, ctx: RiskContext
    ) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """(gross after, net after, gross of the rest, net of the rest, mark) for the intent."""
        try:
            exposure = ctx.portfolio.exposure(ctx.marks)
        except (ValidationError, ArithmeticError) as exc:
            value = getattr(exc, "value", None)
            raise _reject("gross_exposure", "marks for open positions", value) from None
        mark = self._mark(intent, ctx, "gross_exposure")
        before = exposure.by_instrument.get(intent.instrument_id, ZERO)
        pos = ctx.portfolio.position(intent.instrument_id).quantity
        after = (pos + intent.signed_qty) * mark
        gross_rest, net_rest = exposure.gross - abs(before), exposure.net - before
        return gross_rest + abs(after), net_rest + after, gross_rest, net_rest, mark

    def _gross_exposure(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_gross_exposure
        if limit is None or state["reduces"]:
            return
        amount = self._amount("gross_exposure", limit, intent, ctx)
        gross, _, rest, _, mark = self._exposure_after(intent, ctx)
        if gross > amount:
            # |position after| may be at most (limit - the rest) / mark
            room = (amount - rest) / mark
            pos = ctx.portfolio.position(intent.instrument_id).quantity
            cap = room - pos if intent.signed_qty > 0 else room + pos
            raise _reject("gross_exposure", _shown(limit, amount), gross, cap=cap)

    def _net_exposure(self, intent: OrderIntent, ctx: RiskContext, state: dict) -> None:
        limit = self.config.max_net_exposure
        if limit is None or state["reduces"]:
            return
        amount = self._amount("net_exposure", limit, intent, ctx)
        _, net, _, rest, mark = self._exposure_after(intent, ctx)
        if abs(net) > amount:
            pos = ctx.portfolio.position(intent.instrument_id).quantity
            if intent.signed_qty > 0:  # position after at most (limit - rest) / mark
                cap = (amount - rest) / mark - pos
            else:  # position after at least (-limit - rest) / mark
                cap = pos - (-amount - rest) / mark
            raise _reject("net_exposure", _shown(limit, amount), abs(net), cap=cap)

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
        ref = _usable(ctx.reference_prices.get(intent.instrument_id))
        if ref is None:
            ref = _usable(ctx.marks.get(intent.instrument_id))
        if ref is None:
            ref = _mid(ctx.book)
        if ref is None:
            raise _reject("price_band", band, None, "no usable reference price")
        deviation = abs(Decimal(price) / ref - 1) * BPS
        if deviation > band:
            shown = deviation.quantize(Decimal("0.01")) if deviation < BPS * BPS else deviation
            raise _reject("price_band", band, shown, f"ref {ref}")

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
        # injected by the engine normally; the default keeps the risk layer usable alone
        estimator = self._estimator if self._estimator is not None else estimate_slippage
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


def _shown(limit: Limit, amount: Decimal) -> Any:
    """How a limit appears in a rejection: the amount, and the share it came from if any."""
    return f"{amount} ({limit} of equity)" if isinstance(limit, EquityShare) else limit


def _mid(book: Any) -> Decimal | None:
    if book is None:
        return None
    from nzeza.domain.booklike import top_of_book

    try:
        top = top_of_book(book)
    except (ArithmeticError, ValueError, TypeError, NzezaError):
        return None
    if top is None:
        return None
    (bid, _), (ask, _) = top
    return _usable((bid + ask) / 2)


__all__ = [
    "BPS",
    "EXPOSURE_CHECKS",
    "ORDER_SIZE_CHECKS",
    "Estimator",
    "Journal",
    "RiskEngine",
    "reduces",
    "total_pnl",
]
