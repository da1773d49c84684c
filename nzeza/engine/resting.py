"""A session's order policy: limit, post-only and stop orders that rest at the venue.

A session whose strategy (or `SessionConfig.orders`) has a non-market `OrderPolicy`
(`nzeza.research.orders`) turns each changed target into one order of the policy's kind,
placed at the next bar's first trade like a market order would be:

- its price is the deciding bar's close × (1 ∓ offset) (a buy limit or post-only below the
  close, a buy stop above it; a sell mirrors), on the instrument's tick, rounded away from the
  market (a buy limit down, a sell limit up, a buy stop up, a sell stop down);
- it is sized with the research rule at that price (`Trader.size_pending`): a limit or
  post-only at its limit with the maker fee, a stop at its trigger × (1 + slippage) with the
  taker fee — the venue never sizes;
- it rests at the venue (the durable paper venue fills it by its trade-through rule, maker fee
  per resting fill, partial fills up to each trade's size); each fill is booked once, as it
  happens, in the portfolio and the ledger;
- it lives bars t+1 … t+ttl (t the deciding bar): at the close of bar t+ttl it is cancelled
  and recorded `expired`; a new decision cancels it (recorded `canceled`, "replaced") before
  its own order is placed. Fills that came before a cancel are booked first;
- a post-only order the venue refuses at placement (it would cross) is journaled and
  recorded as rejected, nothing traded, like the research rule.

After a restart the session finds its resting orders at the venue by client id
(`fetch_open_orders`, `Trader.ids.owns`): they keep working (never sent again) with the ttl
their journaled intent gives them.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from nzeza.domain import Fill, OrderExpired, OrderStatus
from nzeza.engine.orders import follow, new_order
from nzeza.errors import VenueError
from nzeza.ops.logging import get_logger
from nzeza.research.orders import OrderPolicy, order_price

log = get_logger("nzeza.engine.session")


def policy_price(policy: OrderPolicy, side: str, close: Decimal, instrument: Any) -> Decimal:
    """The policy's limit or stop price for a `side` order decided at `close`, on the tick,
    rounded away from the market (never a better price for us than the rule's)."""
    raw = order_price(policy.kind, side, close, Decimal(str(policy.offset)))
    buy = side == "buy"
    up = buy if policy.kind == "stop" else not buy
    return instrument.make_price(raw, ROUND_UP if up else ROUND_DOWN)


class RestingOrders:
    """The policy orders of one `Session` (module docstring)."""

    def __init__(self, session: Any, policy: OrderPolicy) -> None:
        self.s = session
        self.policy = policy
        self.expiry: dict[str, int] = {}  # client id → start of the bar after whose close it ends

    @property
    def flow(self) -> Any:
        return self.s.flow

    # -- placing ----------------------------------------------------------------------------
    async def open(self, price: Decimal, ts: int, t0: int) -> None:
        """A bar's first trade at `price`: the pending decision (if any) replaces the working
        orders and becomes one order of the policy, sized at its own price."""
        trader = self.s.trader
        if trader.pending is None:
            return
        await self.cancel_all("replaced by the next decision", ts)
        close = self.s.report.last_close
        if close is None:
            trader.pending = None
            return
        target, _ = trader.pending
        snap = trader.portfolio.snapshot()
        held = snap.position(self.s.cfg.instrument.id).quantity
        equity = snap.cash + held * close
        side = "buy" if target * equity / close - held > 0 else "sell"
        limit = policy_price(self.policy, side, close, self.s.cfg.instrument)
        costs = self.s.cfg.costs
        if self.policy.kind == "stop":
            pending = trader.size_pending(limit)
        else:
            pending = trader.size_pending(limit, fill_price=limit, fee_rate=costs.maker_dec)
        if pending is None:
            return
        if pending[0].side != side:
            return  # at the policy's price the position is already past the target
        self.s.report.intents += 1
        decided_bar = pending[2]
        await self.s.dispatch.decided(pending, price, ts, t0, order=(self.policy.kind, limit))
        for cid in self.flow.working_orders:
            self.expiry.setdefault(cid, decided_bar + self.policy.ttl * self.s.cfg.timeframe_ns)

    # -- fills as they happen ---------------------------------------------------------------
    async def on_fills(self, fills: list[Fill]) -> None:
        """Fills the venue made on a public trade: booked once each (portfolio, ledger)."""
        for cid in dict.fromkeys(f.order_id for f in fills):
            order = self.flow.working_orders.get(cid)
            if order is not None:
                await self.flow.book_fills(order, None)
                if not order.is_open:
                    self.expiry.pop(cid, None)
                    self.s.ledger.record_order(self.s.cfg.session_id, order, "filled")

    # -- ending -----------------------------------------------------------------------------
    async def on_bar_closed(self, start_ns: int, ts: int) -> None:
        """After the close of the bar starting at `start_ns`: orders whose life ends there
        are cancelled at the venue and recorded expired."""
        for cid, end in list(self.expiry.items()):
            if start_ns >= end:
                await self._end(cid, "expired", ts)
        if self.s.trader.pending is not None:  # a new decision: before the next trade meets them
            await self.cancel_all("replaced by the next decision", ts)

    async def cancel_all(self, why: str, ts: int) -> None:
        for cid in list(self.flow.working_orders):
            await self._end(cid, "canceled", ts, why)

    async def _end(self, cid: str, status: str, ts: int, why: str = "ttl") -> None:
        flow, sid = self.flow, self.s.cfg.session_id
        self.expiry.pop(cid, None)
        order = flow.working_orders.get(cid)
        if order is None:
            return
        try:
            done = await flow.venue.cancel(self.s.cfg.instrument.id, client_order_id=cid)
        except VenueError as exc:
            # A live venue fills a resting order without telling the session (no public-trade
            # hook): a stop that triggered and filled cannot be cancelled any more. Read the
            # order; if the venue ended it, book what it did.
            done = await self._ended_at_venue(cid)
            if done is None:
                flow.note_venue_error(exc)
                log.warning("cancel failed", extra={"client_order_id": cid, "error": str(exc)})
                return
        await flow.book_fills(order, done)  # fills that came before the cancel
        if order.status is OrderStatus.FILLED:
            self.s.ledger.record_order(sid, order, "filled")
            flow.working_orders.pop(cid, None)
            return
        if order.is_open:
            if status == "expired" and order.can("expire"):
                order.apply(OrderExpired(ts))
            else:
                follow(order, done)
        self.s.ledger.record_order(sid, order, status, {"at": why})
        self.s.ledger.mark_intent(cid, "canceled")
        flow.working_orders.pop(cid, None)

    async def _ended_at_venue(self, cid: str) -> Any:
        """The venue's view of order `cid` if the venue has ended it (filled, cancelled,
        expired), else None (still working, unknown, or the venue did not answer)."""
        try:
            view = await self.flow.venue.fetch_order(self.s.cfg.instrument.id, client_order_id=cid)
        except VenueError:
            return None
        return None if view is None or view.status.is_open else view

    # -- recovery ---------------------------------------------------------------------------
    async def recover(self) -> None:
        """After a restart: this session's orders still resting at the venue keep working
        (found by client id, never sent again), with the ttl of their journaled intents."""
        flow, sid, inst = self.flow, self.s.cfg.session_id, self.s.cfg.instrument
        intents = {i["client_order_id"]: i for i in self.s.ledger.intents(sid)}
        fills = self.s.ledger.fills(sid)
        for view in await flow.open_orders():
            cid = view.client_order_id
            intent = intents.get(cid)
            if intent is None:
                continue
            if cid not in flow.working_orders:
                kind = intent.get("order_type") or "market"
                price = Decimal(intent["price"]) if intent.get("price") else None
                order = new_order(cid, inst, view.side.value, view.quantity, view.ts, kind, price)
                follow(order, view, fills)
                flow.working_orders[cid] = order
                self.s.ledger.record_order(sid, order, "reconciled")
            self.expiry[cid] = int(intent["bar_ts"]) + self.policy.ttl * self.s.cfg.timeframe_ns
        for row in flow.resubmit:  # journaled, never sent: sent at the next open, same life
            self.expiry[row["client_order_id"]] = (
                int(row["bar_ts"]) + self.policy.ttl * self.s.cfg.timeframe_ns
            )


__all__ = ["RestingOrders", "policy_price"]
