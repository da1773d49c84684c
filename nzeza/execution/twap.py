"""TWAP: a parent order split into children over a horizon, as a sans-I/O scheduler.

The driver calls `scheduler.on_time(now_ns, market_volume=..., price=...)` on every event; it
returns commands (`PlaceChild`, `CancelChild`) and the driver reports back with `on_fill` and
`on_done`. The clock is whatever `now_ns` the driver passes (replay time or wall time).

Schedule: `slices` slice times evenly over `horizon_s`, each moved by a bounded random jitter
(± `jitter` × slice interval, jitter ≤ 0.5 so slices never swap order), seeded so a replay
makes the same schedule. At slice k the cumulative target is Q × (k+1)/slices; the child is the
shortfall to that target, capped by participation (`max_participation` × market volume since
the previous slice) and notional (`max_child_notional` / price), on the lot. A child still
working at the next slice is cancelled and its remainder replaced (cancel/replace). The report
gives the implementation shortfall against the arrival price.

Never more than the parent: a child being cancelled may still fill (the fill races the
cancel), so the quantity placed at a slice is also capped by total − filled − every working
child's remainder. What such a cap holds back is placed once `on_done` confirms the cancel: at
the next slice, or after the last slice at the next `on_time` (a catch-up child). Fills that
arrive after `on_done` (out of order) still count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from nzeza.domain import Instrument, OrderType, Side, TimeInForce
from nzeza.domain.intent import OrderIntent
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.errors import ConfigError
from nzeza.execution.client_ids import client_order_id

BPS = Decimal(10_000)


@dataclass(frozen=True)
class TwapConfig:
    """Horizon in seconds; caps as a fraction of market volume and a quote-currency amount."""

    horizon_s: float
    slices: int
    jitter: float = 0.2
    max_participation: Decimal | None = None
    max_child_notional: Decimal | None = None
    child_type: str = "market"  # or "limit": at the price passed ± limit_offset_bps
    limit_offset_bps: Decimal = ZERO  # positive = more aggressive
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.horizon_s > 0 or self.slices < 1:
            raise ConfigError("twap", "needs horizon_s > 0 and slices >= 1")
        if not 0 <= self.jitter <= 0.5:
            raise ConfigError("twap.jitter", f"must be in [0, 0.5], got {self.jitter}")
        if self.child_type not in ("market", "limit"):
            raise ConfigError("twap.child_type", f"is {self.child_type!r}", "market or limit")
        for name in ("max_participation", "max_child_notional"):
            v = getattr(self, name)
            if v is not None and to_decimal(v, name) <= 0:
                raise ConfigError(f"twap.{name}", f"must be positive, got {v}")


@dataclass(frozen=True, slots=True)
class PlaceChild:
    client_order_id: str
    intent: OrderIntent


@dataclass(frozen=True, slots=True)
class CancelChild:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class ShortfallReport:
    """Implementation shortfall (adverse positive) vs the arrival price, in bps and quote."""

    requested: Decimal
    filled: Decimal
    avg_price: Decimal | None
    arrival_price: Decimal
    shortfall_bps: Decimal | None  # execution cost of what filled
    execution_cost: Decimal  # sign × (avg − arrival) × filled, quote currency
    opportunity_cost: Decimal | None  # sign × (final − arrival) × unfilled, if final known
    children: int

    @property
    def unfilled(self) -> Decimal:
        return self.requested - self.filled


@dataclass
class _Child:
    cid: str
    qty: Decimal
    filled: Decimal = ZERO
    canceling: bool = False


@dataclass
class TwapScheduler:
    parent: OrderIntent
    instrument: Instrument
    config: TwapConfig
    start_ns: int
    arrival_price: Decimal
    session_id: str
    venue: str = "paper"
    times: list[int] = field(init=False)
    filled: Decimal = field(default=ZERO, init=False)
    notional: Decimal = field(default=ZERO, init=False)
    children: dict[str, _Child] = field(default_factory=dict, init=False)  # working
    history: dict[str, _Child] = field(default_factory=dict, init=False)  # every child
    _next_slice: int = field(default=0, init=False)
    _held_back: Decimal = field(default=ZERO, init=False)  # withheld for racing cancels
    _count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.side = Side(self.parent.side)
        self.total = to_decimal(self.parent.quantity, "quantity")
        self.arrival_price = to_decimal(self.arrival_price, "arrival_price")
        rng = random.Random(self.config.seed)
        step = self.config.horizon_s * 1e9 / self.config.slices
        self.times = [
            self.start_ns + int(step * (k + rng.uniform(-self.config.jitter, self.config.jitter)))
            if k
            else self.start_ns  # the first child goes at once
            for k in range(self.config.slices)
        ]
        self.end_ns = self.start_ns + int(self.config.horizon_s * 1e9)

    # -- state ------------------------------------------------------------------------------
    @property
    def working(self) -> Decimal:
        return sum((c.qty - c.filled for c in self.children.values()), ZERO)

    @property
    def done(self) -> bool:
        return self.filled >= self.total or (
            self._next_slice >= len(self.times) and not self.children and self._held_back <= 0
        )

    # -- driver inputs ----------------------------------------------------------------------
    def on_time(
        self, now_ns: int, *, price: Decimal | None = None, market_volume: Decimal | None = None
    ) -> list[PlaceChild | CancelChild]:
        """Commands due at `now_ns`. `price` is the current reference (mid or last trade);
        `market_volume` the base volume traded since the previous call (for participation)."""
        if self.filled >= self.total:
            return []
        due = [k for k in range(self._next_slice, len(self.times)) if self.times[k] <= now_ns]
        out: list[PlaceChild | CancelChild] = []
        if due:
            k = due[-1]  # a late driver catches up in one child, not a burst of them
            self._next_slice = k + 1
            for c in self.children.values():
                if not c.canceling:
                    c.canceling = True
                    out.append(CancelChild(c.cid))
            target = self.total * (k + 1) / self.config.slices
            free = self.total - self.filled - self.working
            # A child being cancelled may still fill: what it could still fill is not free.
            want = min(target - self.filled, free)
            self._held_back = max(ZERO, target - self.filled - free)
        elif self._next_slice >= len(self.times) and not self.children and self._held_back > 0:
            # After the last slice: the cancels have settled; place what they held back.
            want = min(self._held_back, self.total - self.filled)
            self._held_back = ZERO
        else:
            return []
        px = to_decimal(price, "price") if price is not None else self.arrival_price
        if self.config.max_participation is not None and market_volume is not None:
            want = min(want, Decimal(self.config.max_participation) * market_volume)
        if self.config.max_child_notional is not None:
            want = min(want, Decimal(self.config.max_child_notional) / px)
        qty = self.instrument.make_qty(max(want, ZERO), ROUND_DOWN)
        if qty <= 0 or qty < self.instrument.min_qty or qty * px < self.instrument.min_notional:
            return out  # too small to send now; the shortfall carries to the next slice
        self._count += 1
        seq = f"{self.parent.seq}.{self._count}"
        cid = client_order_id(self.session_id, seq, self.venue)
        if self.config.child_type == "limit":
            raw = px * (1 + self.side.sign * Decimal(self.config.limit_offset_bps) / BPS)
            limit = self.instrument.make_price(
                raw, ROUND_UP if self.side is Side.BUY else ROUND_DOWN
            )
            intent = self.parent.with_changes(
                quantity=qty,
                type=OrderType.LIMIT,
                price=limit,
                time_in_force=TimeInForce.GTC,
                seq=0,
                tag="twap",
            )
        else:
            intent = self.parent.with_changes(
                quantity=qty, type=OrderType.MARKET, price=None, seq=0, tag="twap"
            )
        self.children[cid] = self.history[cid] = _Child(cid, qty)
        out.append(PlaceChild(cid, intent))
        return out

    def on_fill(self, cid: str, qty: Decimal, price: Decimal) -> None:
        """A child filled `qty` at `price` (also after `on_done`: fills may come late)."""
        c = self.history.get(cid)
        if c is None:
            return  # not one of ours
        q = min(to_decimal(qty, "qty"), c.qty - c.filled)
        if q <= 0:
            return
        c.filled += q
        self.filled += q
        self.notional += q * to_decimal(price, "price")
        if c.filled >= c.qty:
            self.children.pop(cid, None)

    def on_done(self, cid: str) -> None:
        """The child is terminal (filled, cancelled, rejected, expired): its rest is free."""
        self.children.pop(cid, None)

    def report(self, final_price: Decimal | None = None) -> ShortfallReport:
        avg = self.notional / self.filled if self.filled else None
        sign = self.side.sign
        exec_cost = sign * (self.notional - self.arrival_price * self.filled)
        bps = sign * (avg - self.arrival_price) / self.arrival_price * BPS if avg else None
        opp = None
        if final_price is not None:
            opp = (
                sign
                * (to_decimal(final_price, "final_price") - self.arrival_price)
                * (self.total - self.filled)
            )
        return ShortfallReport(
            self.total, self.filled, avg, self.arrival_price, bps, exec_cost, opp, self._count
        )


__all__ = [
    "BPS",
    "CancelChild",
    "PlaceChild",
    "ShortfallReport",
    "TwapConfig",
    "TwapScheduler",
]
