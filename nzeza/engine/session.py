"""The streaming session: trades from a feed → bars → the `Trader` → a venue → the ledger.

Paper and live sessions run this loop; only the trade source and the venue differ. Decisions
are taken at each bar's close on the trailing window and executed at the next bar's first trade
(its open), sized there with the research rule — the same convention replay and the research
backtest use, so a paper session over a capture equals a replay of the bars built from it.

Crash safety (DESIGN principle 6): every intent is journaled before its order is sent; each
fill is written with the positions it produces in one transaction; `last_bar_ts` is written
after every effect of a bar is. On restart with the same session id the session rebuilds the
portfolio from the ledger, reconciles with the venue (orders by client id, trades since the
last recorded fill), re-reads the feed from the bars it needs to rebuild its window, and goes on.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nzeza.domain import Costs, Fill, Instrument, Portfolio
from nzeza.domain.numbers import to_decimal
from nzeza.engine.bars import Bar
from nzeza.engine.faults import crash_point
from nzeza.engine.recovery import rebuild
from nzeza.engine.state import SessionMachine
from nzeza.engine.trader import Intent, Trader
from nzeza.errors import RiskRejected
from nzeza.ops.logging import bind, get_logger
from nzeza.venues.base import OrderRequest, Venue

log = get_logger(__name__)


@dataclass
class SessionConfig:
    session_id: str
    strategy: Any
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
    final_equity: Decimal | None = None
    last_close: Decimal | None = None
    stopped_by: str = "feed ended"
    decision_latencies_ns: list[int] = field(default_factory=list)


class Session:
    """One session. `await session.run(trades)`; `resume_from_ns()` says where the feed starts."""

    def __init__(
        self,
        config: SessionConfig,
        ledger: Any,
        venue: Venue,
        *,
        metrics: Any = None,
        pre_trade: Callable[[Intent], None] | None = None,
        kill_switch: Callable[[], bool] | None = None,
    ) -> None:
        self.cfg = config
        self.ledger = ledger
        self.venue = venue
        self.metrics = metrics
        self.pre_trade = pre_trade
        self.kill_switch = kill_switch or (lambda: False)
        self.machine = SessionMachine()
        self._stop = asyncio.Event()
        inst = config.instrument
        resumed = not ledger.start_session(
            config.session_id,
            mode=config.mode,
            strategy=config.strategy_name,
            params=config.params,
            venue=venue.name,
            currency=inst.quote,
            initial_balances={inst.quote: config.init_cash},
            config=config.record,
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
        )
        self.trader.restore_target(rec.last_target)
        self.trader.seq = rec.last_seq
        self.last_bar_ts = rec.last_bar_ts
        self._resubmit: list[dict[str, Any]] = []
        self._bin: int | None = None  # start of the bar whose open was handled
        self._last_trade_wall: float | None = None

    def feed_health(self, max_age_s: float = 30.0) -> tuple[bool, dict[str, Any]]:
        """Healthy while trades keep arriving (the /healthz "feed" component)."""
        if self._last_trade_wall is None:
            return self.machine.state.value == "recovering", {"last_trade_age_s": None}
        age = time.monotonic() - self._last_trade_wall
        return age <= max_age_s, {"last_trade_age_s": round(age, 3)}

    # -- where to start the feed ------------------------------------------------------------
    def resume_from_ns(self) -> int | None:
        """Feed start: enough bars before the resume point to rebuild the strategy's window."""
        if self.last_bar_ts is None:
            return None
        # the window and a few bars more, so a bar with no trade at the start is rebuilt too
        return self.last_bar_ts - (self.trader.warmup + 5) * self.cfg.timeframe_ns

    # -- recovery ---------------------------------------------------------------------------
    async def reconcile(self) -> None:
        """Apply venue trades the ledger missed; find intents the venue never received."""
        inst = self.cfg.instrument
        since = self.portfolio.snapshot().last_fill_ts or None
        for fill in await self.venue.my_trades(inst.id, since_ns=since):
            if not self.ledger.has_fill(self.venue.name, fill.trade_id):
                self.trader.apply_fill(fill)
                self.report.reconciled_fills += 1
        filled = {f.order_id for f in self.ledger.fills(self.cfg.session_id)}
        for intent in self.recovered.unfilled_intents:
            cid = intent["client_order_id"]
            if cid in filled:
                continue
            order = await self.venue.fetch_order(inst.id, client_order_id=cid)
            if order is None:  # journaled, never reached the venue: send at the next open
                self._resubmit.append(intent)
            else:  # reached the venue; its trades were applied above
                self.ledger.mark_intent(cid, "done")
        if self.report.reconciled_fills or self._resubmit:
            log.warning(
                "reconciled after restart",
                extra={
                    "fills_applied": self.report.reconciled_fills,
                    "to_resubmit": len(self._resubmit),
                },
            )

    # -- the loop ---------------------------------------------------------------------------
    def stop(self, reason: str = "stop requested") -> None:
        self.report.stopped_by = reason
        self._stop.set()

    async def run(self, trades: AsyncIterator[Any]) -> SessionReport:
        from nzeza.feeds.bars import BarAggregator

        with bind(session_id=self.cfg.session_id):
            self.machine.fire("start")
            await self.reconcile()
            self.machine.fire("recovered")
            agg = BarAggregator(self.cfg.timeframe_ns, symbol=self.cfg.instrument.symbol)
            async for trade in trades:
                if self._stop.is_set():
                    break
                if self.kill_switch():
                    self.machine.fire("halt")
                    self.stop("kill switch")
                    break
                self._last_trade_wall = time.monotonic()
                for fbar in agg.on_trade(trade):
                    await self._on_closed(fbar)
                start = agg.open_bar_start
                on_trade = getattr(self.venue, "on_trade", None)
                if on_trade is not None:  # a paper venue prices its fills from the feed
                    on_trade(self.cfg.instrument.id, trade.price, trade.ts_ns or 0)
                if start is not None and start != self._bin:
                    self._bin = start
                    if self.last_bar_ts is None or start > self.last_bar_ts:
                        await self._execute_open(trade.price, trade.ts_ns or 0)
            self.machine.fire("stop")
            self._finish()
            self.machine.fire("stopped")
        return self.report

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
            if fbar.start_ns == self.last_bar_ts and changed and not self._resubmit:
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
        self.ledger.mark_bar(self.cfg.session_id, fbar.start_ns)
        crash_point("after_bar")
        self.last_bar_ts = fbar.start_ns
        if self.metrics is not None:
            self.metrics.bars.inc()
            self.metrics.equity.set(float(eq))
            self.metrics.open_positions.set(len(snap.open_positions()))
            self.metrics.bar_lag.set(max(0.0, time.time() - (fbar.end_ns / 1e9)))

    async def _execute_open(self, price: Decimal, ts: int) -> None:
        t0 = time.perf_counter_ns()
        if self._resubmit:
            for row in self._resubmit:
                intent = Intent(
                    row["seq"],
                    row["client_order_id"],
                    row["side"],
                    Decimal(row["quantity"]),
                    to_decimal(price, "price"),
                    Decimal(row["target"] or 0),
                    row["bar_ts"],
                )
                await self._send(intent, ts)
                self.report.resubmitted += 1
            self._resubmit = []
            return
        intent = self.trader.intent_at(price)
        if intent is None:
            return
        self.report.intents += 1
        if self.pre_trade is not None:
            try:
                self.pre_trade(intent)
            except RiskRejected as rejection:  # journaled by the risk hook; never sent
                self.ledger.mark_intent(intent.client_order_id, "rejected")
                self.report.rejected += 1
                log.warning("intent rejected by risk", extra={"check": rejection.check})
                return
        await self._send(intent, ts)
        self.report.decision_latencies_ns.append(time.perf_counter_ns() - t0)

    async def _send(self, intent: Intent, ts: int) -> None:
        inst = self.cfg.instrument
        request = OrderRequest(intent.client_order_id, inst.id, intent.side, intent.quantity)
        crash_point("after_journal")
        t0 = time.perf_counter()
        order = await self.venue.submit(request)
        crash_point("after_submit")
        if self.metrics is not None:
            self.metrics.orders_submitted.labels(self.venue.name).inc()
            self.metrics.decision_to_ack.labels(self.venue.name).observe(time.perf_counter() - t0)
        by_order = getattr(self.venue, "order_fills", None)
        if by_order is not None:
            fills = await by_order(inst.id, intent.client_order_id)
        else:
            fills = [
                f
                for f in await self.venue.my_trades(inst.id, since_ns=order.ts)
                if f.order_id == intent.client_order_id
            ]
        for fill in fills:
            if self.trader.apply_fill(fill):
                self.report.fills += 1
                crash_point("after_fill")
                if self.metrics is not None:
                    self.metrics.orders_filled.labels(self.venue.name).inc()
        self.ledger.mark_intent(intent.client_order_id, "done")

    def _finish(self) -> None:
        if self.report.last_close is not None:
            self.report.final_equity = self.trader.equity(self.report.last_close)
        self.ledger.set_session_status(self.cfg.session_id, "stopped", self.report.stopped_by)


def install_signal_handlers(session: Session) -> None:
    """SIGTERM / SIGINT stop the session gracefully (final snapshot written)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, session.stop, f"signal {sig.name}")


def fills_of(ledger: Any, session_id: str) -> list[Fill]:
    return ledger.fills(session_id)
