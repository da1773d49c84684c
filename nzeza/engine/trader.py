"""The session core: closed bars in, sized orders out; fills in, portfolio and ledger updated.

One `Trader` runs every mode. It holds no sockets and no event loop: the replay loop and the
async session shells call it. At each closed bar it feeds the strategy the trailing window and
keeps the last row's target; when the target changed, the next execution price (the next bar's
open in replay, the live touch in paper/live) sizes the order with the research rule
(`nzeza.engine.sizing`). Every intent is journaled before the order exists, under a client
order id valid on the session's venue (`nzeza.execution.client_ids.ClientIds`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs, Fill, Instrument, Order, Portfolio
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.engine.bars import Bar, BarWindow
from nzeza.engine.sizing import SizedOrder, VolTargeting, size_target
from nzeza.execution.client_ids import ClientIds, client_order_id

if TYPE_CHECKING:
    from nzeza.store import Ledger
    from nzeza.strategies.base import TargetStrategy


@dataclass(frozen=True, slots=True)
class Intent:
    """A decision to trade, journaled before any order exists."""

    seq: int
    client_order_id: str
    side: str
    quantity: Decimal
    reference_price: Decimal
    target: Decimal
    bar_ts: int
    # market, or an order policy's kind (limit | post_only | stop) at `price` (the limit or
    # the stop's trigger, on the instrument's tick)
    order_type: str = "market"
    price: Decimal | None = None


def journal_intent(
    ledger: Ledger | None,
    session_id: str,
    intent: Intent,
    instrument_id: str,
    status: str | None = None,
) -> None:
    """Journal `intent` on `instrument_id` in the ledger (when there is one) before its order
    exists; `status` marks it at once (e.g. "rejected" by risk, never to be sent)."""
    if ledger is None:
        return
    ledger.journal_intent(
        session_id,
        intent.seq,
        intent.client_order_id,
        instrument_id,
        intent.side,
        intent.quantity,
        intent.order_type,
        intent.price,
        intent.bar_ts,
        intent.target,
    )
    if status is not None:
        ledger.mark_intent(intent.client_order_id, status)


class Trader:
    def __init__(
        self,
        strategy: TargetStrategy,
        instrument: Instrument,
        costs: Costs,
        portfolio: Portfolio,
        *,
        session_id: str,
        ledger: Ledger | None = None,
        venue: str = "paper",
        precomputed_targets: pd.Series | None = None,
        on_event: Callable[[str, dict], None] | None = None,
        vol_targeting: VolTargeting | None = None,
        leverage: Decimal = Decimal(1),
    ) -> None:
        self.strategy = strategy
        self.leverage = leverage  # a perpetual's: targets are fractions of equity × leverage
        self.instrument = instrument
        self.costs = costs
        self.portfolio = portfolio
        self.session_id = session_id
        self.ledger = ledger
        self.venue = venue
        self.warmup = max(int(getattr(strategy, "warmup", 1) or 1), 1)
        self.vol_targeting = vol_targeting
        if vol_targeting is not None:  # the window must hold the volatility lookback too
            self.warmup = max(self.warmup, vol_targeting.bars_needed)
        self.window = BarWindow(self.warmup)
        # precomputed targets as plain floats, cleaned once (non-finite → flat, clipped to ±1):
        # the replay loop reads one per bar without touching pandas
        self.precomputed: list[float] | None = None
        if precomputed_targets is not None:
            values = np.asarray(precomputed_targets, dtype=np.float64)
            values = np.clip(np.where(np.isfinite(values), values, 0.0), -1.0, 1.0)
            self.precomputed = values.tolist()
        self._last_value: float | None = None  # the float behind `last_target`
        self.on_event = on_event or (lambda kind, data: None)
        self.seq = ledger.last_intent_seq(session_id) if ledger is not None else 0
        # the venue's client id format; a session prefix, or ids claimed in the ledger (dYdX)
        self.ids = ClientIds(session_id, venue, ledger)
        self.last_target = ZERO
        self.pending: tuple[Decimal, int] | None = None  # (target, decided at bar ts)
        self.bars_seen = 0
        self._hold_until = 0  # bars to see before deciding again after a resume

    # -- decisions ------------------------------------------------------------------------
    def target_at_close(self, bar: Bar) -> Decimal:
        """The strategy's target for the bar that just closed (last row of the window)."""
        self.window.append(bar)
        self.bars_seen += 1
        if self.precomputed is not None:
            value = self.precomputed[self.bars_seen - 1]
        else:
            out = self.strategy.target(self.window.frame())
            # the last row, read from the array (`.iloc[-1]` cost as much as a rolling mean)
            value = float((out.to_numpy() if isinstance(out, pd.Series) else np.asarray(out))[-1])
            if not math.isfinite(value):
                value = 0.0
            value = min(1.0, max(-1.0, value))
        if self.vol_targeting is not None:
            value = self.vol_targeting.scale(value, self.window.closes())
        return to_decimal(value, "target")

    def on_bar_close(self, bar: Bar) -> Decimal:
        target = self.target_at_close(bar)
        if self.bars_seen < self._hold_until:
            # a resumed session whose feed could not give back its history (a live venue):
            # keep the recovered position until the window is as full as before the restart
            return target
        self._decide(target, bar.ts)
        return target

    def _decide(self, target: Decimal, ts: int) -> None:
        """A changed target becomes the pending decision, sized at the next execution price."""
        if target != self.last_target:
            self.pending = (target, ts)
            self.last_target = target

    def on_precomputed_close(self, ts: int) -> None:
        """`on_bar_close` for replay with precomputed targets and no volatility targeting: the
        next target is a float read, and a Decimal is made only when it changes."""
        assert self.precomputed is not None and self.vol_targeting is None
        value = self.precomputed[self.bars_seen]
        self.bars_seen += 1
        if value == self._last_value:
            return
        self._last_value = value
        self._decide(to_decimal(value, "target"), ts)

    def restore_target(self, target: Decimal) -> None:
        """After recovery: the target the recorded position corresponds to. No new decision is
        taken before the strategy's window holds as many bars as the session had recorded (at
        most `warmup`): a strategy fed a short window after a restart would otherwise trade on
        it (an SMA of nothing is flat, and the session would close its position)."""
        self.last_target = target
        self._last_value = None
        if self.ledger is not None and self.seq > 0:
            recorded = len(self.ledger.equity_curve(self.session_id))
            self._hold_until = min(self.warmup, recorded)

    # -- execution ------------------------------------------------------------------------
    def intent_at(self, price: Any) -> Intent | None:
        """Size the pending target at `price`; journal and return the intent (or None)."""
        pending = self.size_pending(price)
        if pending is None:
            return None
        sized, target, bar_ts = pending
        return self.journal(sized.side, sized.quantity, sized.reference_price, target, bar_ts)

    def size_pending(
        self, price: Any, *, fill_price: Decimal | None = None, fee_rate: Decimal | None = None
    ) -> tuple[SizedOrder, Decimal, int] | None:
        """The pending decision sized at `price` — (order, target, decided at bar ts) — or
        None; the decision is consumed either way. Nothing is journaled: a session checks the
        order (risk, account) before `journal` makes it an intent."""
        if self.pending is None:
            return None
        target, bar_ts = self.pending
        self.pending = None
        snap = self.portfolio.snapshot()
        position = snap.position(self.instrument.id).quantity
        ref = to_decimal(price, "price")
        sized = size_target(
            target, position, snap.cash, ref, self.costs, self.instrument.lot_size,
            fill_price=fill_price, fee_rate=fee_rate, leverage=self.leverage,
        )  # fmt: skip
        return None if sized is None else (sized, target, bar_ts)

    def journal(
        self,
        side: str,
        quantity: Decimal,
        reference_price: Decimal,
        target: Decimal,
        bar_ts: int,
        *,
        status: str | None = None,
        order_type: str = "market",
        price: Decimal | None = None,
    ) -> Intent:
        """Make the next intent (its sequence and client order id) and journal it before any
        order exists; `status` marks it at once (e.g. "rejected" by risk, never to be sent)."""
        self.seq += 1
        intent = Intent(
            self.seq,
            self.ids(self.seq),
            side,
            quantity,
            reference_price,
            target,
            bar_ts,
            order_type,
            price,
        )
        journal_intent(self.ledger, self.session_id, intent, self.instrument.id, status)
        self.on_event("intent", {"seq": intent.seq, "side": intent.side})
        return intent

    def apply_fill(self, fill: Fill, order: Order | None = None) -> bool:
        """Apply a fill to the portfolio and the ledger in one step (False if already applied)."""
        persist = None
        if self.ledger is not None:
            # duplicates are caught by the portfolio's trade ids (rebuilt from the ledger on
            # restart) and, as a last line, by the ledger's unique (venue, trade_id)
            if self.portfolio.has_fill(fill.trade_id):
                return False
            persist = self.ledger.fill_writer(self.session_id, self.venue, fill, order)
        applied = self.portfolio.apply_fill(fill, persist=persist)
        if applied:
            self.on_event("fill", {"trade_id": fill.trade_id})
        return applied

    def equity(self, mark: Any) -> Decimal:
        snap = self.portfolio.snapshot()
        pos = snap.position(self.instrument.id).quantity
        return snap.cash + (pos * to_decimal(mark, "mark") if pos else ZERO)


__all__ = ["Intent", "Trader", "client_order_id", "journal_intent"]
