"""The multi-symbol session: one portfolio strategy trading several symbols from one cash
balance, on one time-ordered stream of their trades, through one venue, into one ledger session.

The loop is the single-symbol `Session`'s, per symbol where it must be: the trades of every
symbol (`aligned.merge_trades`) build bars on one clock (`aligned.AlignedBars`); at each aligned
close the `PortfolioTrader` takes the strategy's weights on the trailing panel; at the next open
(the first trade of the next bar, of any symbol) the due symbols are valued once at each
symbol's last trade price, sized with the research rule, sells before buys, each order judged by
the portfolio risk gate (`portfolio_risk.PortfolioRiskGate`, the settings' limits), journaled,
and sent to the venue by that symbol's `OrderFlow` (which books the fills in the shared
portfolio and the ledger).

Crash safety as the single-symbol session's: every intent is journaled before its order is
sent; fills are written with the positions they produce; `last_bar_ts` is written after every
effect of a bar. On restart with the same session id the portfolio is rebuilt from the ledger
(every instrument), each symbol's orders are reconciled with the venue (fills the ledger missed,
intents the venue never received: sent again first at the next open), and the feed is re-read
from the bars the strategy's window needs. The bars already processed are replayed without
trading (the weights and the opens they were followed by, exactly as before the crash); a
rebalance the crash interrupted goes on where it stopped: the symbols whose orders it had
journaled are not traded again, the others are sized on the value it was started with (the
portfolio before its fills). The ledger ends as an uninterrupted run's.

Several venues (the instruments' `venue` names differ, e.g. `binance:BTC/USDT` and
`kraken:ETH/USDT`; `venue` is then a mapping venue name → adapter): each symbol's orders go to
its own venue's adapter, and each venue is its own cash account, starting with an equal share of
`init_cash` (`PortfolioSessionConfig.venue_cash`). The strategy's weights are of the total
equity (the sum over the venues); a buy is limited by its own venue's cash (no cash moves
between venues: a weight one venue cannot pay is bought smaller). The portfolio risk limits
(gross, net, per symbol, symbols held, daily loss) are of the whole session, over every venue,
as fractions of the total equity. The ledger session records
each symbol's venue (`config.venues`, and each fill's venue); a restart rebuilds every venue's
account from its own fills. A trade id is unique within its venue only (two paper venues both
number their trades from 1), so the session sees each venue's fills with the trade id
`VENUE:ID` (`VenueTrades`), which the shared portfolio and the ledger keep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any, cast

from nzeza.domain import Costs, Fill, Instrument, Portfolio
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.engine.aligned import AlignedBars
from nzeza.engine.faults import crash_point
from nzeza.engine.orderflow import OrderFlow
from nzeza.engine.portfolio_risk import PortfolioRiskGate, portfolio_risk_config
from nzeza.engine.rebalance import PortfolioTrader
from nzeza.engine.recovery import mark_filled_intents, rebuild
from nzeza.engine.session import DayBaseline, SessionReport
from nzeza.engine.trader import Intent
from nzeza.errors import ValidationError, clip
from nzeza.ops.logging import bind, get_logger
from nzeza.ops.risksettings import DEFAULT_RISK, RiskSettings

if TYPE_CHECKING:
    from nzeza.store import Ledger
    from nzeza.venues.base import Venue

log = get_logger("nzeza.engine.session")


@dataclass
class PortfolioSessionConfig:
    session_id: str
    strategy: Any  # a PortfolioStrategy
    strategy_name: str
    params: dict[str, Any]
    instruments: dict[str, Instrument]  # symbol (feed spelling) → instrument, in panel order
    costs: Costs
    init_cash: Decimal
    timeframe_ns: int
    mode: str = "paper"
    record: dict[str, Any] = field(default_factory=dict)
    # the portfolio limits of the settings (on by default); None runs without a risk gate
    risk: RiskSettings | None = DEFAULT_RISK

    def __post_init__(self) -> None:
        from nzeza.engine.lifecycle import check_session_id

        check_session_id(self.session_id)
        if len(self.instruments) < 2:
            raise ValidationError(
                "symbols", list(self.instruments), "a portfolio session trades two or more"
            )
        quotes = {i.quote for i in self.instruments.values()}
        if len(quotes) != 1:
            raise ValidationError(
                "symbols", list(self.instruments), f"share one cash balance: quotes {quotes}"
            )
        cash = self.init_cash
        if not isinstance(cash, Decimal) or not cash.is_finite() or cash <= 0:
            raise ValidationError("init_cash", cash, "must be a positive, finite amount")
        if self.risk is not None and self.risk.stops_on:  # never silently without them
            raise ValidationError(
                "risk",
                "stops",
                "a portfolio session does not run stops (NZEZA_RISK__STOP_LOSS, TAKE_PROFIT, "
                "TRAILING_STOP, TRAILING_ATR): unset them for it",
            )

    @property
    def venue_names(self) -> list[str]:
        """The venues of the symbols, in order of first appearance."""
        return list(dict.fromkeys(i.venue for i in self.instruments.values()))

    @property
    def multi_venue(self) -> bool:
        return len(self.venue_names) > 1

    def venue_cash(self) -> dict[str, Decimal]:
        """Each venue's starting cash: an equal share of `init_cash` (the last venue takes what
        the division leaves, so the accounts sum to `init_cash` exactly)."""
        names = self.venue_names
        share = (self.init_cash / len(names)).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        cash = {n: share for n in names[:-1]}
        cash[names[-1]] = self.init_cash - share * (len(names) - 1)
        return cash

    @property
    def quote(self) -> str:
        return next(iter(self.instruments.values())).quote

    def full_record(self) -> dict[str, Any]:
        """What decides what the session trades (a resume must present the same)."""
        from nzeza.ops.risksettings import risk_config_record
        from nzeza.strategies.identity import identify

        rec = dict(self.record)
        rec.setdefault("fee", self.costs.fee)
        rec.setdefault("slippage", self.costs.slippage)
        rec.setdefault("init_cash", float(self.init_cash))
        rec["instruments"] = [i.id for i in self.instruments.values()]
        who = identify(self.strategy)
        rec["family"], rec["identity"] = who.family, who.identity
        rec["timeframe_ns"] = self.timeframe_ns
        rec["portfolio"] = True
        rec["risk"] = None if self.risk is None else risk_config_record(self.risk)
        if self.multi_venue:  # each symbol's venue (a resume must trade on the same)
            rec["venues"] = {s: i.venue for s, i in self.instruments.items()}
        return rec


@dataclass(frozen=True)
class _FlowConfig:
    """What one symbol's `OrderFlow` reads of its session's config."""

    instrument: Instrument
    session_id: str


class PortfolioSession:
    """One portfolio session: `await session.run(merged_trades)` (module docstring)."""

    def __init__(
        self,
        config: PortfolioSessionConfig,
        ledger: Ledger,
        venue: Venue | Mapping[str, Venue],
        *,
        kill_switch: Callable[[], bool | str | None] | None = None,
        lock: Any = None,
        metrics: Any = None,
    ) -> None:
        from nzeza.engine.lifecycle import check_resume, record_loosened
        from nzeza.store.locks import SessionLock

        self.lock = lock if lock is not None else SessionLock(ledger, config.session_id).acquire()
        try:
            self.cfg = config
            self.ledger = ledger
            self.venues = _venues(config, venue)
            self.venue = next(iter(self.venues.values()))  # the first symbol's venue
            venue_name = "+".join(self.venues) if config.multi_venue else self.venue.name
            self.kill_switch = kill_switch or (lambda: False)
            sid = config.session_id
            record = config.full_record()
            check_resume(ledger, sid, config.mode, record)
            resumed = not ledger.start_session(
                sid,
                mode=config.mode,
                strategy=config.strategy_name,
                params=config.params,
                venue=venue_name,
                currency=config.quote,
                initial_balances={config.quote: config.init_cash},
                config=record,
            )
            self.report = SessionReport(sid, resumed=resumed)
            if resumed:  # the cash it started with (a live one reads today's account otherwise)
                import json

                row = ledger.session(sid) or {}
                start = json.loads(row.get("initial_balances") or "{}").get(config.quote)
                if start is not None:
                    config.init_cash = Decimal(start)
            instruments = list(config.instruments.values())
            self.recovered = rebuild(ledger, sid, instruments)
            self.portfolio: Portfolio = self.recovered.portfolio
            self.accounts = (
                venue_accounts(config, self.recovered.fills) if config.multi_venue else None
            )
            self.trader = PortfolioTrader(
                config.strategy,
                config.instruments,
                config.costs,
                self.portfolio,
                session_id=sid,
                ledger=ledger,
                venue=venue_name,
                accounts=self.accounts,
            )
            self.trader.seq = self.recovered.last_seq
            self.last_bar_ts = self.recovered.last_bar_ts
            self.flows = {
                sym: OrderFlow(
                    _FlowConfig(inst, sid),
                    ledger,
                    self._flow_venue(inst),
                    self.trader,
                    self.report,
                    metrics=metrics,
                )
                for sym, inst in config.instruments.items()
            }
            self.metrics = metrics
            self.state = "starting"  # running, then finished, stopped or failed
            self._last_trade_wall: float | None = None
            self._day_baseline = DayBaseline(ledger, config)
            self.gate = None
            if config.risk is not None:
                self.gate = PortfolioRiskGate(
                    config.instruments,
                    self.portfolio,
                    config=portfolio_risk_config(config.risk),
                    costs=config.costs,
                    ledger=ledger,
                    session_id=sid,
                    metrics=metrics,
                )
                if resumed:  # the day's loss and the order-rate window go on
                    self.gate.restore(config.init_cash, self.recovered.last_bar_ts)
                else:
                    record_loosened(ledger, sid, config.risk, config.init_cash)
            self.bars = AlignedBars(list(config.instruments), config.timeframe_ns)
            self.prices: dict[str, Decimal] = {}  # each symbol's last trade price
            self._stop = asyncio.Event()
            self._task: asyncio.Task[Any] | None = None
            self._in_feed = False  # waiting for the next trade (a stop may interrupt it)
            # a rebalance interrupted by the crash: its orders' instruments (set at the first
            # open after a resume, then cleared)
            self._resuming = resumed
            self._flatten = False  # close every position at the next open (daily-loss breaker)
        except BaseException:
            self.lock.release()
            raise

    def _flow_venue(self, inst: Instrument) -> Venue:
        """The adapter a symbol's orders go to (several venues: its own, fills scoped)."""
        if not self.cfg.multi_venue:
            return self.venue
        return cast("Venue", VenueTrades(self.venues[inst.venue]))

    # -- operations (/metrics, /healthz) ----------------------------------------------------
    def feed_health(self, max_age_s: float = 30.0) -> tuple[bool, dict[str, Any]]:
        """Healthy while trades keep arriving (the /healthz "feed" component)."""
        if self._last_trade_wall is None:
            return False, {"last_trade_age_s": None}
        age = time.monotonic() - self._last_trade_wall
        return age <= max_age_s, {"last_trade_age_s": round(age, 3)}

    def venue_health(self) -> tuple[bool, str]:
        """The /healthz "venue" component: did the last call of every symbol's orders get
        through?"""
        checks = [flow.venue_health() for flow in self.flows.values()]
        bad = [detail for ok, detail in checks if not ok]
        return (not bad, bad[0] if bad else checks[0][1])

    def session_health(self) -> tuple[bool, str]:
        """The /healthz "session" component: running (not stopping, not ended)."""
        return self.state == "running" and not self._stop.is_set(), self.state

    def _export(self, marks: dict[str, Decimal], eq: Decimal, end_ns: int) -> None:
        """The gauges of a closed bar: equity, daily PnL, positions and exposure per symbol."""
        m = self.metrics
        if m is None:
            return
        snap = self.portfolio.snapshot()
        m.bars.inc()
        m.equity.set(float(eq))
        m.open_positions.set(len(snap.open_positions()))
        m.bar_lag.set(max(0.0, time.time() - end_ns / 1e9))
        m.daily_pnl.set(float(eq - self._day_baseline(end_ns - self.cfg.timeframe_ns)))
        for sym, inst in self.cfg.instruments.items():
            qty = snap.position(inst.id).quantity
            m.position.labels(sym).set(float(qty))
            value = qty * marks.get(sym, ZERO)
            m.exposure.labels(sym).set(float(value / eq) if eq else 0.0)

    def _init_gauges(self) -> None:
        """Every gauge of the session with a value from the start (exported before any bar)."""
        m = self.metrics
        if m is None:
            return
        snap = self.portfolio.snapshot()
        m.open_positions.set(len(snap.open_positions()))
        m.daily_pnl.set(0.0)
        for sym, inst in self.cfg.instruments.items():
            m.position.labels(sym).set(float(snap.position(inst.id).quantity))
            m.exposure.labels(sym).set(0.0)
            for venue in self.venues.values():
                m.orders_submitted.labels(venue.name)
                m.orders_filled.labels(venue.name)

    # -- where to start the feed ------------------------------------------------------------
    def resume_from_ns(self) -> int | None:
        """Feed start: enough bars before the resume point to rebuild the strategy's window."""
        if self.last_bar_ts is None:
            return None
        return self.last_bar_ts - (self.trader.warmup + 5) * self.cfg.timeframe_ns

    def stop(self, reason: str = "stop requested") -> None:
        """Stop gracefully (safe from a signal handler); the first reason given is kept. A
        session waiting for its feed (a quiet market, a feed that stalled) stops at once."""
        if not self._stop.is_set():
            self.report.stopped_by = reason
            self._stop.set()
            if self._in_feed and self._task is not None:
                self._task.cancel()  # interrupts only the wait for the next trade

    def _killed(self) -> bool:
        why = self.kill_switch()
        if why:
            self.stop(f"kill switch: {why}" if isinstance(why, str) else "kill switch")
        return bool(why)

    async def _watch_kill(self) -> None:
        """Between trades too: an idle feed must not keep a killed session alive."""
        from nzeza.engine.session import KILL_POLL_S

        while not self._stop.is_set():
            await asyncio.sleep(KILL_POLL_S)
            if self._in_feed and self._killed():
                return

    async def _next(self, it: Any) -> tuple[str, Any] | None:
        """The next (symbol, trade) of the feed; None at its end or at a stop."""
        self._in_feed = True
        try:
            return await anext(it)
        except StopAsyncIteration:
            return None
        except asyncio.CancelledError:
            if not self._stop.is_set() or self._task is None:
                raise  # a cancellation that is not our graceful stop
            self._task.uncancel()
            return None
        finally:
            self._in_feed = False

    # -- the loop ---------------------------------------------------------------------------
    async def run(self, trades: AsyncIterable[tuple[str, Any]]) -> SessionReport:
        """Run to the end of the feed, a stop or the kill switch; the ledger says how it ended
        (`finished`, `stopped`, or `failed` with the error, then re-raised)."""
        with bind(session_id=self.cfg.session_id):
            try:
                return await self._run(trades)
            except BaseException as exc:
                reason = clip(f"{type(exc).__name__}: {exc}", 300)
                self.report.stopped_by = f"failed: {reason}"
                self.state = "failed"
                try:
                    self.ledger.set_session_status(self.cfg.session_id, "failed", reason)
                except Exception:  # the ledger itself may be what failed
                    log.error("cannot record the failure")
                raise
            finally:
                self.lock.release()

    async def _run(self, trades: AsyncIterable[tuple[str, Any]]) -> SessionReport:
        sid = self.cfg.session_id
        unfilled = self.recovered.unfilled_intents
        for sym, flow in self.flows.items():
            mine = [i for i in unfilled if i["instrument_id"] == self.cfg.instruments[sym].id]
            await flow.reconcile(mine, None)
        if self.report.resumed:  # killed between a fill and marking its intent done
            mark_filled_intents(self.ledger, sid)
        log.info(
            "portfolio session running",
            extra={"symbols": list(self.cfg.instruments), "resumed": self.report.resumed},
        )
        self._init_gauges()
        self.state = "running"
        self._task = asyncio.current_task()
        watcher = asyncio.ensure_future(self._watch_kill())
        try:
            await self._consume(aiter(trades))
        finally:
            self._task = None
            watcher.cancel()
        status = "stopped" if self._stop.is_set() else "finished"
        self.state = status
        snap = self.portfolio.snapshot()
        marks = {s: self.prices.get(s, ZERO) for s in self.cfg.instruments}
        eq, _, _ = self.trader.marks_value(marks)
        self.report.final_equity = eq
        self.ledger.audit(
            "session_stop",
            {"reason": self.report.stopped_by, "equity": str(eq), "cash": str(snap.cash)},
            sid,
        )
        self.ledger.set_session_status(sid, status, reason=self.report.stopped_by)
        return self.report

    async def _consume(self, it: Any) -> None:
        while not self._stop.is_set():
            item = await self._next(it)
            if item is None or self._killed():
                return
            sym, trade = item
            self._last_trade_wall = time.monotonic()
            ts = trade.ts_ns or 0
            for start, bars in self.bars.on_trade(sym, trade.price, trade.size, ts):
                self._on_closed(start, bars)
            self.prices[sym] = trade.price
            on_trade = getattr(self.flows[sym].venue, "on_trade", None)
            if on_trade is not None:
                on_trade(self.cfg.instruments[sym].id, trade.price, ts)
            if self.bars.opened:
                bucket = self.bars.bucket
                assert bucket is not None
                if self.last_bar_ts is None or bucket > self.last_bar_ts:
                    await self._execute_open(ts)
                else:
                    self.trader.skip_open()  # executed before the restart

    def _on_closed(self, start: int, bars: dict[str, dict[str, float]]) -> None:
        if self.last_bar_ts is not None and start <= self.last_bar_ts:
            self.trader.on_bar_close(start, bars)  # rebuild the window and the decision only
            self.report.warmup_bars += 1
            return
        self.trader.on_bar_close(start, bars)
        self.report.bars += 1
        closes = {s: to_decimal(b["close"], "close") for s, b in bars.items()}
        marks = {s: closes.get(s, self.prices.get(s, ZERO)) for s in self.cfg.instruments}
        if self.gate is not None and self.gate.on_bar(closes, start):
            self._flatten = True  # the daily-loss breaker tripped: close everything next open
        eq, gross, net = self.trader.marks_value(marks)
        sid = self.cfg.session_id
        self.ledger.record_equity(sid, start, eq, self.portfolio.snapshot().cash, gross, net)
        self.ledger.mark_bar(sid, start)
        self._export(marks, eq, start + self.cfg.timeframe_ns)
        crash_point("after_bar")
        self.last_bar_ts = start

    async def _execute_open(self, ts: int) -> None:
        t0 = time.perf_counter_ns()
        # intents journaled before a crash that never reached the venue go first: they were
        # the next orders of the rebalance the crash interrupted
        for sym, flow in self.flows.items():
            for row in flow.resubmit:
                intent = Intent(
                    row["seq"],
                    row["client_order_id"],
                    row["side"],
                    Decimal(row["quantity"]),
                    self.prices.get(sym, ZERO),
                    Decimal(row["target"] or 0),
                    row["bar_ts"],
                )
                await flow.send(intent, ts, t0)
                self.report.resubmitted += 1
            flow.resubmit = []
        if self._flatten:
            await self._flatten_all(ts, t0)
        pending = self.trader.pending
        if pending is None:
            self._resuming = False
            return
        done, before = self._interrupted(pending[1]) if self._resuming else (set(), None)
        self._resuming = False
        plan = self.trader.rebalance_at(ts, self.prices, before=before)
        if plan is None:
            return
        for sym, weight in plan.due:
            inst = self.cfg.instruments[sym]
            if inst.id in done:
                continue  # journaled before the restart: filled, or sent again above
            sized = self.trader.size_next(sym, weight, plan.value)
            if sized is None:
                continue
            qty = sized.quantity
            self.report.intents += 1
            if self.gate is not None:
                verdict = self.gate.decide(sym, sized.side, qty, self.trader.last_open, ts)
                if verdict.quantity <= ZERO:
                    self.trader.journal(
                        sym, sized.side, qty, sized.reference_price, weight, plan.decided_at,
                        status="rejected",
                    )  # fmt: skip
                    self.report.rejected += 1
                    continue
                if verdict.reason is not None:
                    self.report.amended += 1
                qty = verdict.quantity
            intent = self.trader.journal(
                sym, sized.side, qty, sized.reference_price, weight, plan.decided_at
            )
            await self.flows[sym].send(intent, ts, t0)

    async def _flatten_all(self, ts: int, t0: int) -> None:
        """Close every position (the tripped daily-loss breaker with flattening on); the
        strategy's weights count as zero from here, and new risk stays refused by the breaker."""
        self._flatten = False
        snap = self.portfolio.snapshot()
        for sym, inst in self.cfg.instruments.items():
            qty = snap.position(inst.id).quantity
            if not qty:
                continue
            side = "sell" if qty > 0 else "buy"
            price = self.prices.get(sym, ZERO)
            intent = self.trader.journal(sym, side, abs(qty), price, ZERO, ts)
            await self.flows[sym].send(intent, ts, t0)
            self.report.flattened += 1
        self.trader.pending = None
        self.trader.last_weights = [0.0] * len(self.trader.symbols)

    def _interrupted(self, decided_at: int) -> tuple[set[str], Any]:
        """The instruments a rebalance decided at `decided_at` journaled before the restart,
        and the portfolio as it was before its fills (what it was sized on)."""
        intents = [i for i in self.ledger.intents(self.cfg.session_id) if i["bar_ts"] == decided_at]
        if not intents:
            return set(), None
        ids = {i["client_order_id"] for i in intents}
        before = Portfolio(
            self.cfg.quote,
            {self.cfg.quote: self.cfg.init_cash},
            list(self.cfg.instruments.values()),
        )
        for fill in self.ledger.fills(self.cfg.session_id):
            if fill.order_id not in ids:
                before.apply_fill(fill)
        return {i["instrument_id"] for i in intents}, before.snapshot()


class VenueTrades:
    """A venue adapter whose fills carry `VENUE:TRADE_ID` (unique across a session's venues);
    everything else is the adapter's own."""

    def __init__(self, venue: Any) -> None:
        self._venue = venue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def _scoped(self, fills: list[Fill]) -> list[Fill]:
        prefix = f"{self._venue.name}:"
        return [
            f if f.trade_id.startswith(prefix) else replace(f, trade_id=prefix + f.trade_id)
            for f in fills
        ]

    async def my_trades(self, instrument_id: str, since_ns: int | None = None) -> list[Fill]:
        return self._scoped(await self._venue.my_trades(instrument_id, since_ns=since_ns))

    async def order_fills(self, instrument_id: str, client_order_id: str) -> list[Fill]:
        by_order = getattr(self._venue, "order_fills", None)
        if by_order is not None:
            return self._scoped(await by_order(instrument_id, client_order_id))
        fills = await self._venue.my_trades(instrument_id)
        return self._scoped([f for f in fills if f.order_id == client_order_id])


def _venues(config: PortfolioSessionConfig, venue: Any) -> dict[str, Venue]:
    """Venue name → adapter: one adapter for a one-venue session; a mapping holding every
    symbol's venue for several."""
    if not isinstance(venue, Mapping):
        if config.multi_venue:
            raise ValidationError(
                "venue", venue.name, f"symbols on {config.venue_names} need one venue each"
            )
        return {venue.name: venue}
    missing = [n for n in config.venue_names if n not in venue]
    if missing or not venue:
        raise ValidationError("venue", sorted(venue), f"no adapter for the venues {missing}")
    return dict(venue)


def venue_accounts(config: PortfolioSessionConfig, fills: Any = ()) -> dict[str, Portfolio]:
    """Each venue's own cash account (its share of the starting cash, its instruments), with
    `fills` (the ledger's, on a restart) applied to the account of each fill's venue."""
    accounts = {
        name: Portfolio(
            config.quote,
            {config.quote: cash},
            [i for i in config.instruments.values() if i.venue == name],
        )
        for name, cash in config.venue_cash().items()
    }
    venue_of = {i.id: i.venue for i in config.instruments.values()}
    for fill in fills:
        accounts[venue_of[fill.instrument_id]].apply_fill(fill)
    return accounts


__all__ = ["PortfolioSession", "PortfolioSessionConfig", "VenueTrades", "venue_accounts"]
