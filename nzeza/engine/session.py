"""The streaming session: trades from a feed → bars → the `Trader` → a venue → the ledger.

Paper and live sessions run this loop; only the trade source and the venue differ. Decisions
are taken at each bar's close on the trailing window and executed at the next bar's first trade
(its open), sized there with the research rule — the same convention replay and the research
backtest use, so a paper session over a capture equals a replay of the bars built from it.
A strategy (or `SessionConfig.orders`) with a limit, post-only or stop policy places one
resting order of that kind there instead, priced off the deciding close, expired after its ttl
or replaced by the next decision (`nzeza.engine.resting`, docs/orders.md).

Crash safety (DESIGN principle 6): every intent is journaled before its order is sent; each
fill is written with the positions it produces in one transaction; `last_bar_ts` is written
after every effect of a bar is. On restart with the same session id the session rebuilds the
portfolio from the ledger, reconciles with the venue (orders by client id, trades since the
last recorded fill), re-reads the feed from the bars it needs to rebuild its window, and goes on.

Graceful stop (`stop()`: SIGTERM, SIGINT, the kill switch, the end of the feed): the session
stops reading the feed — at once, even while it waits for the next message — finishes the
order it may be sending, then handles its open orders at the venue per `SessionConfig.on_stop`
("cancel": cancel each and book the fills that came before; "keep": leave them working, listed
in the ledger), writes the final snapshot (equity, cash, position and exposure at the last
trade, the orders cancelled and kept, the reason) as a `session_stop` audit record, and marks
the session stopped. Positions and balances in the ledger are current after every fill.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.domain import Costs, Fill, Instrument, Order, Perpetual, Portfolio
from nzeza.domain.numbers import NS_PER_DAY, to_decimal
from nzeza.engine.bars import Bar
from nzeza.engine.faults import crash_point
from nzeza.engine.orderflow import OrderFlow
from nzeza.engine.perp import FundingClock, FundingEvent, PerpAccount
from nzeza.engine.recovery import rebuild
from nzeza.engine.resting import RestingOrders
from nzeza.engine.sizing import VolTargeting
from nzeza.engine.state import SessionMachine
from nzeza.engine.stopping import shutdown
from nzeza.engine.trader import Intent, Trader
from nzeza.errors import ValidationError, VenueError, clip
from nzeza.ops.logging import bind, get_logger
from nzeza.ops.risksettings import DEFAULT_RISK, RiskSettings
from nzeza.research.orders import OrderPolicy, policy_of
from nzeza.venues.base import Venue

if TYPE_CHECKING:
    from nzeza.ops.metrics import Metrics
    from nzeza.store import Ledger
    from nzeza.strategies.base import TargetStrategy
    from nzeza.venues.base import Venue


log = get_logger(__name__)

ON_STOP = ("cancel", "keep")
LOCK_CHECK_S = 30.0  # how often a session checks it still holds its session lock
KILL_POLL_S = 0.5  # how often an idle session looks at its kill switch between events


@dataclass
class SessionConfig:
    session_id: str
    strategy: TargetStrategy
    strategy_name: str
    params: dict[str, Any]
    instrument: Instrument
    costs: Costs
    init_cash: Decimal
    timeframe_ns: int
    mode: str = "paper"
    # what a later replay needs to rebuild this session's bars (feed, timeframe, costs, cash):
    # stored as the session's config in the ledger; the promotion paper gate reads it
    record: dict[str, Any] = field(default_factory=dict)
    # this session's open orders at a graceful stop: "cancel" them or "keep" them working
    on_stop: str = "cancel"
    vol_targeting: VolTargeting | None = None
    # the session's risk limits and stops (on by default); None runs without a risk gate,
    # which only research comparisons and benchmarks of the bare loop should ask for
    risk: RiskSettings | None = DEFAULT_RISK
    # a perpetual instrument's leverage (targets × leverage of equity); 1 otherwise
    leverage: Decimal = Decimal(1)
    # the order policy (None: the strategy's own `orders`, else market): limit, post-only and
    # stop orders rest at the venue (`nzeza.engine.resting`)
    orders: OrderPolicy | None = None

    @property
    def policy(self) -> OrderPolicy:
        return policy_of(self.strategy, self.orders)

    def __post_init__(self) -> None:
        from nzeza.engine.lifecycle import check_session_id

        check_session_id(self.session_id)
        if self.on_stop not in ON_STOP:
            raise ValidationError("on_stop", self.on_stop, "must be cancel or keep")
        cash = self.init_cash
        if not isinstance(cash, Decimal) or not cash.is_finite() or cash <= 0:
            raise ValidationError("init_cash", cash, "must be a positive, finite amount")
        self.policy  # noqa: B018 — checks the policy (ValidationError on `orders`)
        if isinstance(self.instrument, Perpetual):
            self.leverage = self.instrument.check_leverage(self.leverage)
        elif self.leverage != 1:
            raise ValidationError("leverage", self.leverage, "needs a perpetual instrument")


@dataclass
class SessionReport:
    session_id: str
    resumed: bool
    bars: int = 0
    warmup_bars: int = 0
    intents: int = 0
    fills: int = 0
    reconciled_fills: int = 0
    resubmitted: int = 0
    rejected: int = 0
    venue_rejected: int = 0
    amended: int = 0  # decisions the risk gate reduced
    twaps: int = 0  # decisions the risk gate split into TWAP children
    twap_children: int = 0
    funding_payments: int = 0  # perpetuals: funding times booked by this run
    liquidations: int = 0  # perpetuals (paper): positions liquidated by this run
    funding_from_venue: int = 0  # live perpetuals: venue payments the session had missed
    funding_mismatches: int = 0  # live perpetuals: booked amounts the venue's differ from
    stops_triggered: int = 0
    flattened: int = 0  # positions closed by the daily-loss breaker
    final_equity: Decimal | None = None
    last_close: Decimal | None = None
    stopped_by: str = "feed ended"
    canceled_orders: list[str] = field(default_factory=list)
    kept_orders: list[str] = field(default_factory=list)
    # decision (intent at the bar's open) → fills booked in portfolio and ledger
    decision_latencies_ns: list[int] = field(default_factory=list)
    # decision → the order request handed to the venue adapter (sized, risk-checked,
    # journaled to the ledger; the adapter then takes its rate budget): nzeza's own time
    send_latencies_ns: list[int] = field(default_factory=list)
    # decision → the venue acknowledged the order (what nzeza_decision_to_ack_seconds observes)
    ack_latencies_ns: list[int] = field(default_factory=list)


def _started_with(ledger: Any, session_id: str, config: Any) -> Decimal:
    """The cash a session started with, as its ledger row records it (a resumed live session's
    config holds today's account reading instead)."""
    row = ledger.session(session_id) or {}
    start = json.loads(row.get("initial_balances") or "{}").get(config.instrument.quote)
    return Decimal(start) if start is not None else config.init_cash


class DayBaseline:
    """A session's equity at the start of the UTC day of a time (its daily PnL's baseline):
    the last equity snapshot in the ledger before that midnight, else the config's starting
    cash (as it is then: a resume may set it); read from the ledger once a day."""

    def __init__(self, ledger: Any, config: Any) -> None:
        self.ledger = ledger
        self.config = config
        self._day: int | None = None
        self._equity: Decimal = config.init_cash

    def __call__(self, ts: int) -> Decimal:
        day = ts // NS_PER_DAY
        if day != self._day:
            self._day = day
            curve = self.ledger.equity_curve(self.config.session_id)
            before = [eq for t, eq in curve if t < day * NS_PER_DAY]
            self._equity = before[-1] if before else self.config.init_cash
        return self._equity


class Session:
    """One session. `await session.run(trades)`; `resume_from_ns()` says where the feed starts."""

    def __init__(
        self,
        config: SessionConfig,
        ledger: Ledger,
        venue: Venue,
        *,
        metrics: Metrics | None = None,
        pre_trade: Any = None,
        kill_switch: Callable[[], bool | str | None] | None = None,
        account: Any = None,
        lock: Any = None,
    ) -> None:
        from nzeza.store.locks import SessionLock

        # the session id is this process's before anything is read or written (a second
        # process on it refuses here, naming the holder); an assembler may have taken it
        self.lock = lock if lock is not None else SessionLock(ledger, config.session_id).acquire()
        try:
            self._setup(config, ledger, venue, metrics, pre_trade, kill_switch, account)
        except BaseException:
            self.lock.release()
            raise

    def _setup(
        self,
        config: SessionConfig,
        ledger: Ledger,
        venue: Venue,
        metrics: Metrics | None,
        pre_trade: Any,
        kill_switch: Callable[[], bool | str | None] | None,
        account: Any,
    ) -> None:
        self.cfg = config
        self.ledger = ledger
        self.venue = venue
        self.metrics = metrics
        self.kill_switch = kill_switch or (lambda: False)
        self.account = account  # live: the venue account orders must be covered by
        self.machine = SessionMachine()
        self._stop = asyncio.Event()
        inst = config.instrument
        from nzeza.engine.lifecycle import check_resume, full_record, record_loosened

        record = full_record(config)
        # before anything is written: a resume must run the configuration it was started with
        check_resume(ledger, config.session_id, config.mode, record)
        resumed = not ledger.start_session(
            config.session_id,
            mode=config.mode,
            strategy=config.strategy_name,
            params=config.params,
            venue=venue.name,
            currency=inst.quote,
            initial_balances={inst.quote: config.init_cash},
            config=record,
        )
        self.report = SessionReport(config.session_id, resumed=resumed)
        rec = rebuild(ledger, config.session_id, inst)
        self.recovered = rec
        self.portfolio: Portfolio = rec.portfolio
        self.trader = Trader(
            config.strategy,
            inst,
            config.costs,
            self.portfolio,
            session_id=config.session_id,
            ledger=ledger,
            venue=venue.name,
            vol_targeting=config.vol_targeting,
            leverage=config.leverage,
        )
        # a perpetual: funding events from the source are booked on the position held
        self.perp: PerpAccount | None = None
        self.funding_clock: FundingClock | None = None
        if isinstance(inst, Perpetual):
            self.perp = PerpAccount(
                inst, config.costs, self.trader, config.session_id, ledger, venue.name
            )
            self.funding_clock = FundingClock(inst.funding_interval_ns)
        self._liquidating: str | None = None  # the liquidation order in flight (paper)
        self._funding_checked: int | None = None  # the last funding time reconciled (live)
        self.trader.restore_target(rec.last_target)
        self.trader.seq = rec.last_seq
        self.last_bar_ts = rec.last_bar_ts
        # its orders at the venue: sending, fills, reconciliation, cancels (at stop too)
        self.flow = OrderFlow(
            config,
            ledger,
            venue,
            self.trader,
            self.report,
            metrics=metrics,
            on_fill=lambda fill: self.dispatch.on_fill(fill),
        )
        self._bin: int | None = None  # start of the bar whose open was handled
        self._last_trade_wall: float | None = None
        self.last_trade: tuple[Decimal, int] | None = None  # (price, exchange ts)
        self._task: asyncio.Task | None = None
        self._in_feed = False  # awaiting the next feed message (a stop may interrupt it)
        self._lock_checked = time.monotonic()
        self._day_baseline = DayBaseline(ledger, config)
        # the risk gate every order goes through (the defaults unless told otherwise)
        self.pre_trade = pre_trade
        if pre_trade is None and config.risk is not None:
            from nzeza.engine.riskgate import RiskGate, risk_config

            self.pre_trade = RiskGate(
                ledger,
                config.session_id,
                inst,
                self.portfolio,
                config=risk_config(config.risk),
                costs=config.costs,
                metrics=metrics,
                open_orders=self.working_orders.values,
            )
        if not resumed and config.risk is not None:
            record_loosened(ledger, config.session_id, config.risk, config.init_cash)
        restore = getattr(self.pre_trade, "restore", None)
        if resumed and restore is not None:  # the day's loss and the order-rate window go on
            restore(_started_with(ledger, config.session_id, config), rec.last_bar_ts)
        from nzeza.engine.dispatch import Dispatcher

        self.dispatch = Dispatcher(self)
        self.resting: RestingOrders | None = None
        if not config.policy.is_market:
            self.resting = RestingOrders(self, config.policy)

    def feed_health(self, max_age_s: float = 30.0) -> tuple[bool, dict[str, Any]]:
        """Healthy while trades keep arriving (the /healthz "feed" component)."""
        if self._last_trade_wall is None:
            return self.machine.state.value == "recovering", {"last_trade_age_s": None}
        age = time.monotonic() - self._last_trade_wall
        return age <= max_age_s, {"last_trade_age_s": round(age, 3)}

    def venue_health(self) -> tuple[bool, str]:
        """The /healthz "venue" component: did the last call to the venue get through?"""
        return self.flow.venue_health()

    @property
    def working_orders(self) -> dict[str, Order]:
        """This process's orders still open at the venue (kept by the order flow)."""
        return self.flow.working_orders

    # -- where to start the feed ------------------------------------------------------------
    def resume_from_ns(self) -> int | None:
        """Feed start: enough bars before the resume point to rebuild the strategy's window."""
        if self.last_bar_ts is None:
            return None
        # the window and a few bars more, so a bar with no trade at the start is rebuilt too
        return self.last_bar_ts - (self.trader.warmup + 5) * self.cfg.timeframe_ns

    # -- recovery ---------------------------------------------------------------------------
    async def reconcile(self) -> None:
        """Reconcile with the venue before running (`OrderFlow.reconcile`); an intent a crash
        left `journaled` after its fill was booked is marked done."""
        await self.flow.reconcile(self.recovered.unfilled_intents, self.account)
        if self.perp is not None:  # booked funding against the venue's own payments
            await self.reconcile_funding(time.time_ns())
        if self.resting is not None:
            await self.resting.recover()
        if self.report.resumed:
            from nzeza.engine.recovery import mark_filled_intents

            mark_filled_intents(self.ledger, self.cfg.session_id)

    async def reconcile_funding(self, now_ns: int) -> None:
        """A live perpetual session: its booked funding against the venue's payments since the
        session started (`engine.fundrec`); at start, at the first trade, then once per funding
        time after its grace period. A paper venue is credited what the session books: nothing
        to reconcile."""
        from nzeza.engine.fundrec import reconcile_funding

        if self.perp is None or self.cfg.mode != "live":
            return
        started = (self.ledger.session(self.cfg.session_id) or {}).get("started_ns") or 0
        price = self.last_trade[0] if self.last_trade is not None else None
        try:
            res = await reconcile_funding(
                self.perp, self.venue, now_ns=now_ns, since_ns=int(started), price=price
            )
        except VenueError as exc:  # the venue's history is unavailable: try at the next time
            log.warning("funding reconciliation failed", extra={"error": str(exc)})
            return
        self.report.funding_from_venue += res.booked
        self.report.funding_mismatches += res.mismatched

    async def _funding_due(self, ts: int) -> None:
        """Reconcile once a funding time's grace period has passed (exchange time)."""
        from nzeza.engine.fundrec import GRACE_NS

        if self.perp is None or self.cfg.mode != "live" or ts <= 0:
            return
        interval = self.cfg.instrument.funding_interval_ns  # type: ignore[attr-defined]
        due = (ts - GRACE_NS) // interval * interval
        if self._funding_checked is None or due > self._funding_checked:
            # the exchange's clock decides (the start's check ran on the wall clock)
            self._funding_checked = due
            await self.reconcile_funding(ts)

    # -- the loop ---------------------------------------------------------------------------
    def stop(self, reason: str = "stop requested") -> None:
        """Stop gracefully (safe from a signal handler); the first reason given is kept."""
        if self._stop.is_set():
            return
        self.report.stopped_by = reason
        self._stop.set()
        if self._in_feed and self._task is not None:
            self._task.cancel()  # interrupts only the wait for the next feed message

    async def run(self, trades: AsyncIterable[Any]) -> SessionReport:
        """Run to the end of the feed or a stop. Whatever ends it, the ledger says how:
        `finished` (the feed ended), `stopped` (a signal, the kill switch, a stop call) or
        `failed` with the error (then re-raised)."""
        self._task = asyncio.current_task()
        with bind(session_id=self.cfg.session_id):
            try:
                return await self._run(trades)
            except BaseException as exc:
                self._fail(exc)
                raise
            finally:
                self.close()

    def close(self) -> None:
        """Give the session id up (done at the end of `run`; idempotent)."""
        self.lock.release()

    def _fail(self, exc: BaseException) -> None:
        """Record the failure (state machine, ledger, log); never masks the original error."""
        reason = clip(f"{type(exc).__name__}: {exc}", 300)
        if isinstance(exc, asyncio.CancelledError):
            reason = "cancelled: the session's task was cancelled before it could stop"
        self.report.stopped_by = f"failed: {reason}"
        if self.machine.can("fail"):
            self.machine.fire("fail")
        try:
            self.ledger.set_session_status(self.cfg.session_id, "failed", reason)
        except Exception as err:  # the ledger itself may be what failed
            log.error("cannot record the failure", extra={"error": clip(str(err), 300)})
        log.error("session failed", extra={"reason": reason})

    async def _run(self, trades: AsyncIterable[Any]) -> SessionReport:
        from nzeza.feeds.bars import BarAggregator

        self.machine.fire("start")
        await self.reconcile()
        self.dispatch.arm()  # stops on the recovered position
        self.machine.fire("recovered")
        log.info(
            "session running",
            extra={
                "mode": self.cfg.mode,
                "venue": self.venue.name,
                "resumed": self.report.resumed,
                "reconciled_fills": self.report.reconciled_fills,
            },
        )
        self._init_gauges()
        agg = BarAggregator(self.cfg.timeframe_ns, symbol=self.cfg.instrument.symbol)
        feed = aiter(trades)
        watcher = asyncio.create_task(self._watch_kill())
        try:
            await self._consume(feed, agg)
        finally:
            watcher.cancel()
            aclose = getattr(feed, "aclose", None)
            if aclose is not None:
                await aclose()
        self.machine.fire("stop")
        await self._shutdown()
        self.machine.fire("stopped")
        return self.report

    def _killed(self) -> bool:
        """Poll the kill switch; when engaged, halt and stop (reason: the switch's)."""
        why = self.kill_switch()
        if not why:
            return False
        if self.machine.can("halt"):
            self.machine.fire("halt")
        self.stop(f"kill switch: {why}" if isinstance(why, str) else "kill switch")
        return True

    async def _watch_kill(self) -> None:
        """Between events too: an idle feed must not keep a killed session alive."""
        while not self._stop.is_set():
            await asyncio.sleep(KILL_POLL_S)
            if self._in_feed and self._killed():
                return

    async def _consume(self, feed: AsyncIterator[Any], agg: Any) -> None:
        while not self._stop.is_set():
            self._in_feed = True
            try:
                trade = await anext(feed)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if not self._stop.is_set() or self._task is None:
                    raise  # a cancellation that is not our graceful stop
                self._task.uncancel()
                return
            finally:
                self._in_feed = False
            if self._killed():
                return
            if isinstance(trade, FundingEvent):
                self._on_funding(trade)
                continue
            if hasattr(trade, "funding_rate"):  # a venue's live update (feeds.FundingUpdate)
                if self.funding_clock is not None:
                    for event in self.funding_clock.on_update(trade):
                        self._on_funding(event)
                continue
            self._last_trade_wall = time.monotonic()
            self.last_trade = (trade.price, trade.ts_ns or 0)
            for fbar in agg.on_trade(trade):
                await self._on_closed(fbar)
            start = agg.open_bar_start
            on_trade = getattr(self.venue, "on_trade", None)
            if on_trade is not None and self.resting is not None:  # resting orders meet it
                await self.resting.on_fills(
                    on_trade(self.cfg.instrument.id, trade.price, trade.ts_ns or 0, trade.size)
                    or []
                )
            elif on_trade is not None:  # a paper venue prices its fills from the feed
                on_trade(self.cfg.instrument.id, trade.price, trade.ts_ns or 0)
            if start is not None and start != self._bin:
                self._bin = start
                if self.last_bar_ts is None or start > self.last_bar_ts:
                    await self._execute_open(trade.price, trade.ts_ns or 0)
            if self.perp is not None:
                await self._liquidate_if_reached(trade.price, trade.ts_ns or 0)
                await self._funding_due(trade.ts_ns or 0)
            await self.dispatch.on_trade(trade.price, trade.ts_ns or 0)

    async def _liquidate_if_reached(self, price: Decimal, ts: int) -> None:
        """Paper: a perpetual position whose liquidation price this trade reaches is closed
        by a reduce-only market order, as the venue would close it (a live venue liquidates by
        itself: its fill arrives like any other). The order is journaled and marked in the
        ledger's `liquidations` in one transaction before it is sent; it skips the risk gate
        (a liquidation is not the strategy's to refuse)."""
        if self.cfg.mode != "paper":
            return
        inst = self.cfg.instrument
        snap = self.portfolio.snapshot()
        pos = snap.position(inst.id)
        qty, entry = pos.quantity, pos.avg_entry_price
        if self._liquidating is not None:
            if qty != 0 and self._liquidating in self.working_orders:
                return  # the liquidation order is still working
            self._liquidating = None
        if qty == 0 or not isinstance(inst, Perpetual):
            return
        collateral = snap.cash + qty * entry
        liq = inst.liquidation_price(qty, entry, collateral)
        if liq is None or (qty > 0 and price > liq) or (qty < 0 and price < liq):
            return
        size = abs(qty)
        side = "sell" if qty > 0 else "buy"
        with self.ledger.batch():
            intent = self.trader.journal(
                side, size, price, self.trader.last_target, self.last_bar_ts or ts
            )
            rate = inst.maintenance(size * liq)[0]
            self.ledger.record_liquidation(
                self.cfg.session_id, self.venue.name, intent.client_order_id, inst.id, ts, qty,
                entry, collateral, rate, liq,
            )  # fmt: skip
        self.report.liquidations += 1
        self._liquidating = intent.client_order_id
        log.warning(
            "liquidated",
            extra={"position": str(qty), "liquidation_price": str(liq), "price": str(price)},
        )
        if self.dispatch.twap is not None:
            self.dispatch._end_twap("liquidation")
        await self.flow.send(intent, ts, time.perf_counter_ns())

    def _on_funding(self, event: FundingEvent) -> None:
        """A funding time from the source: booked once on the position held (a funding time
        re-read after a restart is already in the ledger, and is skipped)."""
        if self.perp is None:
            log.warning("funding event for a spot instrument ignored", extra={"ts": event.ts})
            return
        amount = self.perp.fund(event)
        if amount is not None:
            self.report.funding_payments += 1
            credit = getattr(self.venue, "credit_funding", None)
            if credit is not None:  # a paper account is credited what the session booked
                from nzeza.venues.base import VenueFunding

                row = self.perp.funding[-1]
                credit(
                    VenueFunding(self.perp.spec.id, event.ts, amount, event.rate, row["position"])
                )
            log.info("funding booked", extra={"ts": event.ts, "amount": str(amount)})
        crash_point("after_funding")

    async def _on_closed(self, fbar: Any) -> None:
        bar = Bar(
            fbar.start_ns,
            float(fbar.open),
            float(fbar.high),
            float(fbar.low),
            float(fbar.close),
            float(fbar.volume),
        )
        self.report.last_close = fbar.close
        if self.last_bar_ts is not None and fbar.start_ns <= self.last_bar_ts:
            # already processed before the restart: rebuild the window only
            target = self.trader.target_at_close(bar)
            self.report.warmup_bars += 1
            changed = target != self.trader.last_target
            if fbar.start_ns == self.last_bar_ts and changed and not self.flow.resubmit:
                self.trader.pending = (target, fbar.start_ns)
                self.trader.last_target = target
            return
        if fbar.start_ns != self._bin and fbar.trades == 0:
            # an empty bar: its open is the previous close, known only now
            await self._execute_open(fbar.open, fbar.start_ns)
        self.trader.on_bar_close(bar)
        self.report.bars += 1
        eq = self.trader.equity(fbar.close)
        snap = self.portfolio.snapshot()
        exp = snap.exposure({self.cfg.instrument.id: fbar.close})
        self.ledger.record_equity(
            self.cfg.session_id, fbar.start_ns, eq, snap.cash, exp.gross, exp.net
        )
        await self.dispatch.on_bar(fbar.high, fbar.low, fbar.close, fbar.start_ns)
        if self.resting is not None:
            await self.resting.on_bar_closed(fbar.start_ns, fbar.end_ns)
        self._check_lock()
        self.ledger.mark_bar(self.cfg.session_id, fbar.start_ns)
        crash_point("after_bar")
        self.last_bar_ts = fbar.start_ns
        if self.metrics is not None:
            self.metrics.bars.inc()
            self.metrics.equity.set(float(eq))
            self.metrics.open_positions.set(len(snap.open_positions()))
            self.metrics.bar_lag.set(max(0.0, time.time() - (fbar.end_ns / 1e9)))
            self.metrics.daily_pnl.set(float(eq - self._day_baseline(fbar.start_ns)))

    def _check_lock(self) -> None:
        """A PostgreSQL lock lives on a connection: if it dropped, another process may now run
        this session id, so this one stops (checked at most every LOCK_CHECK_S)."""
        now = time.monotonic()
        if now - self._lock_checked < LOCK_CHECK_S:
            return
        self._lock_checked = now
        if not self.lock.alive():
            log.error("lost the session lock")
            self.stop("lost the session lock")

    def _init_gauges(self) -> None:
        """Give every per-session gauge a value from the start (exported before any event)."""
        if self.metrics is None:
            return
        venue = self.venue.name
        self.metrics.orders_submitted.labels(venue)
        self.metrics.orders_filled.labels(venue)
        snap = self.portfolio.snapshot()
        self.metrics.open_positions.set(len(snap.open_positions()))
        self.metrics.daily_pnl.set(0.0)
        self.flow.init_gauges()

    async def _execute_open(self, price: Decimal, ts: int) -> None:
        t0 = time.perf_counter_ns()
        if self.flow.resubmit:
            for row in self.flow.resubmit:
                intent = Intent(
                    row["seq"],
                    row["client_order_id"],
                    row["side"],
                    Decimal(row["quantity"]),
                    to_decimal(price, "price"),
                    Decimal(row["target"] or 0),
                    row["bar_ts"],
                    row.get("order_type") or "market",
                    Decimal(row["price"]) if row.get("price") else None,
                )
                await self.flow.send(intent, ts, t0)
                self.report.resubmitted += 1
            self.flow.resubmit = []
            return
        if self.resting is not None:  # the order policy: one resting order at its own price
            await self.resting.open(to_decimal(price, "price"), ts, t0)
            return
        pending = self.trader.size_pending(price)
        if pending is None:
            return
        self.report.intents += 1
        # risk (and, live, the account) before the journal: what is journaled is what is sent
        await self.dispatch.decided(pending, to_decimal(price, "price"), ts, t0)

    # -- stopping ---------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        """Open orders per `on_stop`, the final snapshot, the stop record (`stopping.py`)."""
        await shutdown(self.flow, self.cfg.on_stop, self.last_trade, self.metrics)


def install_signal_handlers(session: Session) -> None:
    """SIGTERM / SIGINT stop the session gracefully (open orders per config, final snapshot)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, session.stop, f"signal {sig.name}")


def fills_of(ledger: Ledger, session_id: str) -> list[Fill]:
    return ledger.fills(session_id)


__all__ = [
    "KILL_POLL_S",
    "LOCK_CHECK_S",
    "ON_STOP",
    "DayBaseline",
    "Session",
    "SessionConfig",
    "SessionReport",
    "fills_of",
    "install_signal_handlers",
]
