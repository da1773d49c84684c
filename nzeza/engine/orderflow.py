"""A session's orders at its venue: one object for the running and the stopping session.

`OrderFlow` holds the session's working orders and everything that touches them at the venue:
reconciling with the venue at start (trades the ledger missed, journaled intents the venue never
received), sending a journaled intent (idempotently, within the venue's request budget),
booking the fills of an order once each in the portfolio and the ledger, cancelling one
working order, and, at a graceful stop, cancelling or keeping every open order of the session.
Only this session's orders are touched (`Trader.ids.owns`): a venue account is shared.

It also keeps what the last venue call said, the `/healthz` "venue" component.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.domain import Fill, Order, OrderRejected, OrderStatus, OrderType, Side, TimeInForce
from nzeza.engine.faults import crash_point
from nzeza.engine.orders import follow, new_order, order_from_view
from nzeza.engine.trader import Intent
from nzeza.errors import VenueError
from nzeza.ops.logging import bind, get_logger
from nzeza.venues.base import OrderRequest, VenueOrder

if TYPE_CHECKING:
    from nzeza.ops.metrics import Metrics
    from nzeza.store import Ledger
    from nzeza.venues.base import Venue


log = get_logger("nzeza.engine.session")


class OrderFlow:
    """The orders of one session (`cfg`: its `SessionConfig`) at `venue`, booked in `ledger`."""

    def __init__(
        self,
        cfg: Any,
        ledger: Ledger,
        venue: Venue,
        trader: Any,
        report: Any,
        *,
        metrics: Metrics | None = None,
        on_fill: Callable[[Fill], None] = lambda fill: None,
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.venue = venue
        self.trader = trader
        self.portfolio = trader.portfolio
        self.report = report
        self.metrics = metrics
        self.on_fill = on_fill
        self.working_orders: dict[str, Order] = {}  # this process's orders still open
        self.resubmit: list[dict[str, Any]] = []  # journaled, never reached the venue
        # (reachable, detail) of the last venue call: the /healthz "venue" component
        self.venue_state: tuple[bool | None, str] = (None, "not contacted yet")

    # -- the venue's health -----------------------------------------------------------------
    def venue_health(self) -> tuple[bool, str]:
        """The /healthz "venue" component: did the last call to the venue get through?"""
        ok, detail = self.venue_state
        return bool(ok), detail

    def venue_ok(self) -> None:
        self.venue_state = (True, "reachable")

    def note_venue_error(self, exc: VenueError) -> None:
        if exc.retryable:  # a refusal (not retryable) still proves the venue answers
            self.venue_state = (False, f"{exc.code or 'error'}: {exc}")

    def init_gauges(self) -> None:
        limiter = getattr(self.venue, "limiter", None)  # every venue call's budget (venues/)
        if self.metrics is not None and limiter is not None:
            limiter.export_to(self.metrics)

    # -- recovery ---------------------------------------------------------------------------
    async def reconcile(self, unfilled_intents: list[dict[str, Any]], account: Any) -> None:
        """Apply venue trades the ledger missed; find intents the venue never received.

        Only this session's orders count (`Trader.ids.owns`: the client id's session prefix,
        or the ledger's table of its ids): a venue account, or a paper venue file, may hold
        other sessions' trades too. Orders are looked up first, so a venue that reports trades
        by its own order id can map them back to our client ids.
        """
        inst = self.cfg.instrument
        sid = self.cfg.session_id
        owns = self.trader.ids.owns
        since = self.portfolio.snapshot().last_fill_ts or None
        try:
            if account is not None:  # live: what the account holds, as of now
                await account.refresh()
                self.ledger.audit("account", account.snapshot(), sid)
            views = {
                i["client_order_id"]: await self.venue.fetch_order(
                    inst.id, client_order_id=i["client_order_id"]
                )
                for i in unfilled_intents
            }
            venue_fills = await self.venue.my_trades(inst.id, since_ns=since)
        except VenueError as exc:
            self.note_venue_error(exc)
            raise
        self.venue_ok()
        for fill in venue_fills:
            if not owns(fill.order_id):
                continue
            if not self.ledger.has_fill(self.venue.name, fill.trade_id):
                self.trader.apply_fill(fill)
                self.report.reconciled_fills += 1
        ledger_fills = self.ledger.fills(sid)
        filled = {f.order_id for f in ledger_fills}
        for intent in unfilled_intents:
            cid = intent["client_order_id"]
            view = views[cid]
            if view is None:  # journaled, never reached the venue: send at the next open
                if cid not in filled:
                    self.resubmit.append(intent)
                continue
            # reached the venue (its trades were applied above): record the order as it stands
            kind = intent.get("order_type") or "market"
            price = Decimal(intent["price"]) if intent.get("price") else None
            order = new_order(
                cid, inst, intent["side"], Decimal(intent["quantity"]), view.ts, kind, price
            )
            follow(order, view, ledger_fills)
            self.ledger.record_order(sid, order, "reconciled")
            if order.is_open:
                self.working_orders[cid] = order
            self.ledger.mark_intent(cid, "done")
        if self.report.reconciled_fills or self.resubmit:
            log.warning(
                "reconciled after restart",
                extra={
                    "fills_applied": self.report.reconciled_fills,
                    "to_resubmit": len(self.resubmit),
                },
            )

    # -- sending ----------------------------------------------------------------------------
    async def send(self, intent: Intent, ts: int, decided_ns: int) -> None:
        """Send one journaled intent; `decided_ns` (perf_counter_ns) is when it was decided."""
        from nzeza.execution.submit import submit_idempotent

        inst = self.cfg.instrument
        cid = intent.client_order_id
        # the price the intent was sized at: venues that price market orders themselves need it
        # (Hyperliquid's IOC limit at mid ± slippage, Coinbase's quote-sized market buys)
        request = order_request(intent, inst.id)
        crash_point("after_journal")
        with bind(order_id=cid):
            self.report.send_latencies_ns.append(time.perf_counter_ns() - decided_ns)
            try:
                view = await submit_idempotent(self.venue, request)
            except VenueError as exc:
                self.note_venue_error(exc)
                if exc.retryable:  # outcome unknown after every retry: a restart reconciles
                    raise
                self._rejected(intent, _order_of(intent, inst, ts), exc)
                return
            acked_ns = time.perf_counter_ns() - decided_ns
            self.venue_ok()
            crash_point("after_submit")
            self.report.ack_latencies_ns.append(acked_ns)
            if self.metrics is not None:
                self.metrics.orders_submitted.labels(self.venue.name).inc()
                self.metrics.decision_to_ack.labels(self.venue.name).observe(acked_ns / 1e9)
            order = _order_of(intent, inst, ts)
            follow(order, view)
            if order.status is OrderStatus.REJECTED:
                self._rejected(intent, order, None)
                return
            detail = {"venue_order_id": view.venue_order_id}
            if intent.order_type != "market":
                detail |= {"order_type": intent.order_type, "price": str(intent.price)}
            self.ledger.record_order(self.cfg.session_id, order, "accepted", detail)
            await self.book_fills(order, view)
            self.ledger.mark_intent(cid, "done")

    async def book_fills(self, order: Order, view: VenueOrder | None) -> None:
        """Apply the venue's fills of `order` to it, the portfolio and the ledger (once each)."""
        inst = self.cfg.instrument
        cid = order.client_order_id
        by_order = getattr(self.venue, "order_fills", None)
        if by_order is not None:
            fills = await by_order(inst.id, cid)
        else:
            since = view.ts if view is not None and view.ts else None
            fills = [
                f for f in await self.venue.my_trades(inst.id, since_ns=since) if f.order_id == cid
            ]
        for fill in fills:
            if self.portfolio.has_fill(fill.trade_id):
                continue
            follow(order, None, [fill])
            if self.trader.apply_fill(fill, order):
                self.report.fills += 1
                crash_point("after_fill")
                self.on_fill(fill)
        if order.status is OrderStatus.FILLED:
            self.working_orders.pop(cid, None)
            if self.metrics is not None:
                self.metrics.orders_filled.labels(self.venue.name).inc()
        elif order.is_open:
            self.working_orders[cid] = order

    def _rejected(self, intent: Intent, order: Order, exc: VenueError | None) -> None:
        reason = (exc.code if exc is not None else None) or "rejected"
        if order.can("reject"):
            order.apply(OrderRejected(str(exc) if exc is not None else "rejected by the venue"))
        self.ledger.record_order(self.cfg.session_id, order, "rejected", {"reason": reason})
        self.ledger.mark_intent(intent.client_order_id, "rejected")
        self.report.venue_rejected += 1
        if self.metrics is not None:
            self.metrics.orders_rejected.labels(self.venue.name, reason).inc()
        log.warning("order rejected by the venue", extra={"reason": reason})

    # -- cancelling -------------------------------------------------------------------------
    async def cancel_working(self, cid: str) -> None:
        """Cancel one of this session's working orders (a TWAP child left behind), booking
        the fills that came before the cancel."""
        order = self.working_orders.get(cid)
        if order is None:
            return
        try:
            done = await self.venue.cancel(self.cfg.instrument.id, client_order_id=cid)
        except VenueError as exc:
            self.note_venue_error(exc)
            log.warning("cancel failed", extra={"client_order_id": cid, "error": str(exc)})
            return
        await self.book_fills(order, done)
        follow(order, done)
        self.ledger.record_order(self.cfg.session_id, order, "canceled", {"at": "twap"})
        self.working_orders.pop(cid, None)

    async def open_orders(self) -> list[VenueOrder]:
        """This session's orders still working at the venue."""
        owns = self.trader.ids.owns
        try:
            views = await self.venue.fetch_open_orders(self.cfg.instrument.id)
        except VenueError as exc:
            self.note_venue_error(exc)
            log.error("cannot list open orders at stop", extra={"error": str(exc)})
            return []
        return [v for v in views if owns(v.client_order_id)]

    async def handle_open_orders(self, on_stop: str) -> None:
        """At a stop: cancel (booking the fills that came first) or keep each open order."""
        inst = self.cfg.instrument
        sid = self.cfg.session_id
        ledger, report = self.ledger, self.report
        for view in await self.open_orders():
            cid = view.client_order_id
            order = self.working_orders.get(cid)
            if order is None:  # sent by an earlier run: as the venue and the ledger know it
                order = order_from_view(view, inst)
                if order is not None:
                    follow(order, view, ledger.fills(sid))
            if on_stop == "keep":
                report.kept_orders.append(cid)
                if order is not None:
                    ledger.record_order(sid, order, "kept", {"at": "stop"})
                log.warning("open order kept working at stop", extra={"client_order_id": cid})
                continue
            try:
                done = await self.venue.cancel(inst.id, client_order_id=cid)
            except VenueError as exc:
                self.note_venue_error(exc)
                report.kept_orders.append(cid)
                log.error(
                    "cancel at stop failed", extra={"client_order_id": cid, "error": str(exc)}
                )
                continue
            if order is not None:
                await self.book_fills(order, done)  # fills that came before the cancel
                follow(order, done)
                ledger.record_order(sid, order, "canceled", {"at": "stop"})
            self.working_orders.pop(cid, None)
            report.canceled_orders.append(cid)


def _order_of(intent: Intent, inst: Any, ts: int) -> Order:
    return new_order(
        intent.client_order_id, inst, intent.side, intent.quantity, ts, intent.order_type,
        intent.price,
    )  # fmt: skip


def order_request(intent: Intent, instrument_id: str) -> OrderRequest:
    """The venue request of a journaled intent: a market order, or the order policy's limit,
    post-only (a limit, time in force post_only) or stop (`price` = the trigger)."""
    kind = intent.order_type
    extra: dict[str, Any] = {}
    if kind != "market":
        extra = {
            "type": OrderType.STOP if kind == "stop" else OrderType.LIMIT,
            "price": intent.price,
            "time_in_force": TimeInForce.POST_ONLY if kind == "post_only" else TimeInForce.GTC,
        }
    return OrderRequest(
        intent.client_order_id,
        instrument_id,
        Side(intent.side),
        intent.quantity,
        reference_price=intent.reference_price,
        **extra,
    )


__all__ = ["OrderFlow", "order_request"]
