"""From a decision to orders: what the risk gate decides is what the session sends.

Every order a session sends goes through here, whoever asked for it — the strategy (a changed
target at a bar's open), a stop or trailing stop, or the daily-loss breaker's flatten:

- ACCEPT sends the order as sized; AMEND sends the reduced size the gate allowed;
- TWAP hands the parent to a `TwapScheduler` (`nzeza.execution.twap`): its children go out on
  the following trades of the feed, spread over `NZEZA_RISK__TWAP_HORIZON` of a bar (longer
  when the order-rate limit needs it: slices at most half the allowed rate), each no larger
  than the gate's `max_child_qty`, each checked by the gate again and journaled before it is
  sent. A child refused for the order rate waits for the next slice; refused for anything else,
  it ends the TWAP. A parent the schedule could not complete (trades too sparse) is continued
  with its remainder, at most `MAX_ROUNDS` times; the next decision supersedes it.
- REJECT journals the intent as rejected (the gate recorded why); nothing is sent.
- In a live session the account must cover every order (`Account.cover`): an order the free
  balance cannot pay for is reduced to what it can, or refused, and recorded as such.

Stops (`nzeza.risk.stops.StopManager`) are armed on every fill that leaves a position open and
checked on every trade; a trigger sends a reduce-only order through the same path. A position
stopped out stays flat until the strategy's target changes (the intent keeps the strategy's
target, so a restart does not re-enter either). Each TWAP, stop and flatten is an audit record.

Limits of the model: a TWAP interrupted by a crash is not resumed (its journaled children are
reconciled and resent; the rest waits for the next decision), and children are market orders.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nzeza.domain import Fill
from nzeza.domain.intent import OrderIntent
from nzeza.domain.numbers import ZERO
from nzeza.engine.sizing import SizedOrder
from nzeza.ops.logging import get_logger
from nzeza.risk import Action, Decision, StopManager, StopSpec

log = get_logger("nzeza.engine.session")

MAX_ROUNDS = 3  # TWAP schedules for one parent (the first and at most two continuations)


@dataclass
class _Twap:
    """One TWAP parent in progress."""

    scheduler: Any
    side: str
    target: Decimal
    bar_ts: int
    total: Decimal  # the parent's quantity (base units)
    max_child: Decimal
    rounds: int = 1
    filled_before: Decimal = ZERO  # filled by earlier rounds
    children: dict[str, str] = field(default_factory=dict)  # session cid → scheduler cid

    @property
    def filled(self) -> Decimal:
        return self.filled_before + self.scheduler.filled


class Dispatcher:
    """Turns the session's decisions, stops and flattens into orders (module docstring)."""

    def __init__(self, session: Any) -> None:
        """`session`: the `Session` whose orders these are (its gate, trader, flow, ledger)."""
        self.s = session
        cfg = session.cfg
        risk = cfg.risk
        self.twap: _Twap | None = None
        horizon = risk.twap_horizon if risk is not None else Decimal("0.5")
        self.horizon_ns = max(int(horizon * cfg.timeframe_ns), 1)
        self.stops: StopManager | None = None
        self.spec: StopSpec | None = None
        if risk is not None and risk.stops_on:
            self.spec = StopSpec(
                risk.stop_loss, risk.take_profit, risk.trailing_stop, risk.trailing_atr
            )
            self.stops = StopManager()
        self._ranges: deque[Decimal] = deque(maxlen=risk.atr_bars if risk is not None else 14)
        self._prev_close: Decimal | None = None
        self.atr: Decimal | None = None

    @property
    def gate(self) -> Any:
        return self.s.pre_trade

    # -- the strategy's decision ------------------------------------------------------------
    async def decided(
        self,
        pending: tuple[SizedOrder, Decimal, int],
        price: Decimal,
        ts: int,
        t0: int,
        *,
        order: tuple[str, Decimal] | None = None,
    ) -> None:
        """The strategy's new target, sized at the bar's open `price` (exchange time `ts`);
        `order`: an order policy's (kind, limit or trigger price) instead of a market order —
        one resting order, never split into a TWAP (it takes no liquidity as it rests)."""
        sized, target, bar_ts = pending
        if self.twap is not None:
            self._end_twap("superseded by the next decision")
        report = self.s.report
        kind, limit = order if order is not None else ("market", None)
        extra = {} if order is None else {"order_type": kind, "limit": limit}
        decision = self._decide(sized.side, sized.quantity, price, ts, **extra)
        if decision is not None and decision.action is Action.TWAP and order is None:
            self._start_twap(decision, sized.side, target, bar_ts, price, ts)
            await self.on_trade(price, ts)
            return
        wanted = sized.quantity if decision is None else decision.intent.quantity
        if decision is not None and decision.action is Action.AMEND:
            report.amended += 1
        qty: Decimal | None = wanted
        if decision is None or decision.action is not Action.REJECT:
            qty = await self._covered(sized.side, wanted, price, ts)
        if qty is None or (decision is not None and decision.action is Action.REJECT):
            self.s.trader.journal(
                sized.side, sized.quantity, price, target, bar_ts, status="rejected",
                order_type=kind, price=limit,
            )  # fmt: skip
            report.rejected += 1
            check = decision.rejection.check if decision and decision.rejection else "account"
            log.warning("intent rejected by risk", extra={"check": check})
            return
        intent = self.s.trader.journal(
            sized.side, qty, price, target, bar_ts, order_type=kind, price=limit
        )
        await self.s.flow.send(intent, ts, t0)
        report.decision_latencies_ns.append(_perf_ns() - t0)
        if decision is not None:
            await self._flatten(decision.flatten, price, ts)

    def _decide(
        self, side: str, qty: Decimal, price: Decimal, ts: int, **kw: Any
    ) -> Decision | None:
        gate = self.gate
        return None if gate is None else gate.decide(side, qty, price, ts, **kw)

    async def _covered(self, side: str, qty: Decimal, price: Decimal, ts: int) -> Decimal | None:
        """`qty`, or what the live account can cover of it (None: nothing)."""
        account = self.s.account
        if account is None:
            return qty
        allowed, why = await account.cover(side, qty, price)
        if allowed == qty:
            return qty
        gate = self.gate
        if gate is not None:
            gate.record(
                "account_balance",
                why,
                str(qty),
                f"order of {qty} {'reduced to ' + str(allowed) if allowed else 'refused'}",
                ts,
            )
        return allowed or None

    # -- TWAP -------------------------------------------------------------------------------
    def _start_twap(
        self,
        decision: Decision,
        side: str,
        target: Decimal,
        bar_ts: int,
        price: Decimal,
        ts: int,
        *,
        total: Decimal | None = None,
        rounds: int = 1,
        filled_before: Decimal = ZERO,
    ) -> None:
        parent = decision.intent
        max_child = decision.max_child_qty or parent.quantity
        self.twap = _Twap(
            self._scheduler(parent.quantity, max_child, side, price, ts),
            side,
            target,
            bar_ts,
            total if total is not None else parent.quantity,
            max_child,
            rounds,
            filled_before,
        )
        if rounds == 1:
            self.s.report.twaps += 1
        self.s.ledger.audit(
            "twap_started",
            {
                "side": side,
                "quantity": str(parent.quantity),
                "max_child_qty": str(max_child),
                "slices": self.twap.scheduler.config.slices,
                "horizon_s": self.twap.scheduler.config.horizon_s,
                "round": rounds,
                "arrival_price": str(price),
            },
            self.s.cfg.session_id,
        )

    def _scheduler(
        self, qty: Decimal, max_child: Decimal, side: str, price: Decimal, ts: int
    ) -> Any:
        from nzeza.execution.twap import TwapConfig, TwapScheduler

        slices = max(1, math.ceil(qty / max_child))
        horizon_ns = self.horizon_ns
        rate = self._order_rate()
        if rate:  # room for the order-rate limit: slices (jittered ±20 %) at most `rate` a second
            horizon_ns = max(horizon_ns, math.ceil(2 * slices * 1e9 / rate))
        config = TwapConfig(
            horizon_s=horizon_ns / 1e9,
            slices=slices,
            # children are capped by notional at the expected fill price of the arrival, so
            # a child priced later keeps the arrival's notional, so its expected fill stays
            # within the per-order limit the gate sized `max_child` for
            max_child_notional=max_child * price,
            seed=self.s.trader.seq,
        )
        parent = OrderIntent(self.s.cfg.instrument.id, side, qty, seq=self.s.trader.seq + 1)
        return TwapScheduler(
            parent, self.s.cfg.instrument, config, ts, price, self.s.cfg.session_id
        )

    def _order_rate(self) -> float | None:
        """Orders per second the gate allows (None: no rate limit)."""
        config = getattr(self.gate, "config", None)
        if config is None or config.max_orders_per_window is None:
            return None
        return config.max_orders_per_window / config.rate_window_s

    def _end_twap(self, why: str) -> None:
        twap, self.twap = self.twap, None
        if twap is None:
            return
        report = twap.scheduler.report()
        self.s.ledger.audit(
            "twap_ended",
            {
                "reason": why,
                "requested": str(twap.total),
                "filled": str(twap.filled),
                "avg_price": None if report.avg_price is None else str(report.avg_price),
                "shortfall_bps": None
                if report.shortfall_bps is None
                else f"{report.shortfall_bps:.4f}",
                "children": len(twap.children),
            },
            self.s.cfg.session_id,
        )

    async def _drive(self, price: Decimal, ts: int) -> None:
        from nzeza.execution.twap import CancelChild, PlaceChild

        twap = self.twap
        assert twap is not None
        for cmd in twap.scheduler.on_time(ts, price=price):
            if isinstance(cmd, CancelChild):
                await self._cancel_child(twap, cmd.client_order_id)
            elif isinstance(cmd, PlaceChild) and not await self._place_child(twap, cmd, price, ts):
                return
        if self.twap is twap and twap.scheduler.done:
            left = twap.total - twap.filled
            inst = self.s.cfg.instrument
            left_q = inst.make_qty(left) if left > 0 else ZERO
            tradable = left_q > 0 and left_q >= inst.min_qty and left_q * price >= inst.min_notional
            if tradable and twap.rounds < MAX_ROUNDS:
                d = Decision(
                    Action.TWAP,
                    OrderIntent(inst.id, twap.side, left_q),
                    max_child_qty=twap.max_child,
                )
                self._start_twap(
                    d,
                    twap.side,
                    twap.target,
                    twap.bar_ts,
                    price,
                    ts,
                    total=twap.total,
                    rounds=twap.rounds + 1,
                    filled_before=twap.filled,
                )
                self.twap.children.update(twap.children)
            else:
                self._end_twap("complete" if not tradable else "rounds exhausted")

    async def _place_child(self, twap: _Twap, cmd: Any, price: Decimal, ts: int) -> bool:
        """Check, journal and send one child; False when the TWAP had to end."""
        sched_cid = cmd.client_order_id
        qty = cmd.intent.quantity
        # the parent's resize was recorded once; a child trimmed again is not a new event
        decision = self._decide(twap.side, qty, price, ts, tag="twap", quiet=True)
        if decision is not None:
            if decision.action is Action.REJECT:
                twap.scheduler.on_done(sched_cid)
                check = decision.rejection.check if decision.rejection else "?"
                if check == "order_rate":  # passes with time: the next slice places it
                    return True
                self._end_twap(f"child refused by {check}")
                return False
            qty = (
                decision.max_child_qty
                if decision.action is Action.TWAP and decision.max_child_qty
                else decision.intent.quantity
            )
        covered = await self._covered(twap.side, qty, price, ts)
        if covered is None:
            twap.scheduler.on_done(sched_cid)
            self._end_twap("the account cannot cover a child")
            return False
        intent = self.s.trader.journal(twap.side, covered, price, twap.target, twap.bar_ts)
        twap.children[intent.client_order_id] = sched_cid
        self.s.report.twap_children += 1
        await self.s.flow.send(intent, ts, _perf_ns())
        if intent.client_order_id not in self.s.working_orders:
            twap.scheduler.on_done(sched_cid)  # filled, or refused by the venue
        return True

    async def _cancel_child(self, twap: _Twap, sched_cid: str) -> None:
        ours = [cid for cid, sc in twap.children.items() if sc == sched_cid]
        for cid in ours:
            if cid in self.s.working_orders:
                await self.s.flow.cancel_working(cid)
        twap.scheduler.on_done(sched_cid)

    # -- every trade, bar and fill ----------------------------------------------------------
    async def on_trade(self, price: Decimal, ts: int) -> None:
        """Children due, stops triggered, at a trade of `price` (exchange time `ts`)."""
        if self.twap is not None:
            await self._drive(price, ts)
        if self.stops is None:
            return
        inst = self.s.cfg.instrument.id
        if not self.stops.is_armed(inst):
            return
        for intent in self.stops.on_price(inst, price, self.atr):
            self.s.report.stops_triggered += 1
            gate = self.gate
            if gate is not None:
                gate.record(intent.tag, "armed", str(price), f"{intent.tag} triggered", ts)
            self.s.ledger.audit(
                "stop_triggered",
                {"stop": intent.tag, "price": str(price), "quantity": str(intent.quantity)},
                self.s.cfg.session_id,
            )
            if self.twap is not None:
                self._end_twap(f"{intent.tag} triggered")
            await self._reduce(intent, price, ts)

    async def on_bar(self, high: Decimal, low: Decimal, close: Decimal, ts: int) -> None:
        """A closed bar: the ATR of the trailing stop, and the daily-loss breaker."""
        prev = self._prev_close
        tr = high - low if prev is None else max(high - low, abs(high - prev), abs(low - prev))
        self._ranges.append(tr)
        self._prev_close = close
        if len(self._ranges) == self._ranges.maxlen:
            self.atr = sum(self._ranges, ZERO) / len(self._ranges)
        gate = self.gate
        if gate is not None and hasattr(gate, "on_bar"):
            await self._flatten(gate.on_bar(close, ts), close, ts)

    async def _flatten(self, intents: tuple[OrderIntent, ...], price: Decimal, ts: int) -> None:
        for intent in intents:
            if intent.instrument_id != self.s.cfg.instrument.id:
                continue
            self.s.report.flattened += 1
            self.s.ledger.audit(
                "flatten",
                {"reason": "daily loss", "quantity": str(intent.quantity), "price": str(price)},
                self.s.cfg.session_id,
            )
            if self.twap is not None:
                self._end_twap("daily-loss flatten")
            await self._reduce(intent, price, ts)

    async def _reduce(self, order: OrderIntent, price: Decimal, ts: int) -> None:
        """A reduce-only market order (stop or flatten), through the gate like any other."""
        side = str(getattr(order.side, "value", order.side))
        target = self.s.trader.last_target  # the strategy's: no re-entry after a restart
        bar_ts = self.s.last_bar_ts or ts
        decision = self._decide(side, order.quantity, price, ts, reduce_only=True, tag=order.tag)
        if decision is not None and decision.action is Action.TWAP:
            self._start_twap(decision, side, target, bar_ts, price, ts)
            await self._drive(price, ts)
            return
        if decision is not None and decision.action is Action.REJECT:
            self.s.trader.journal(side, order.quantity, price, target, bar_ts, status="rejected")
            self.s.report.rejected += 1
            return
        qty = order.quantity if decision is None else decision.intent.quantity
        covered = await self._covered(side, qty, price, ts)
        if covered is None:
            return
        intent = self.s.trader.journal(side, covered, price, target, bar_ts)
        await self.s.flow.send(intent, ts, _perf_ns())

    def on_fill(self, fill: Fill) -> None:
        """A fill booked: TWAP progress, and stops armed on what the position now is."""
        twap = self.twap
        if twap is not None and fill.order_id in twap.children:
            twap.scheduler.on_fill(twap.children[fill.order_id], fill.quantity, fill.price)
        self.arm()

    def arm(self) -> None:
        """Arm the configured stops on the position as it is (a restart arms them on the
        recovered position, from its average entry; a trailing stop's extreme restarts there)."""
        if self.stops is None or self.spec is None:
            return
        inst = self.s.cfg.instrument.id
        pos = self.s.portfolio.snapshot().position(inst)
        if pos.quantity == 0:
            self.stops.disarm(inst)
            return
        spec = self.spec
        if spec.trailing_atr is not None and self.atr is None:  # no ATR yet: the other stops
            spec = StopSpec(spec.stop_loss, spec.take_profit, spec.trailing_pct)
            if spec == StopSpec():
                return
        self.stops.arm(inst, pos.quantity, pos.avg_entry_price, spec, atr=self.atr)


def _perf_ns() -> int:
    import time

    return time.perf_counter_ns()


__all__ = ["MAX_ROUNDS", "Dispatcher"]
