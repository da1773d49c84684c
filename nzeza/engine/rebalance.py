"""The portfolio session core: aligned closed bars of several symbols in, rebalancing orders out.

`PortfolioTrader` is `Trader` for a `PortfolioStrategy` (`nzeza.strategies.portfolio`): at each
aligned bar close it feeds the strategy the trailing panel window (or reads precomputed weights)
and keeps the last row's weight per symbol; a symbol whose weight changed is due at the next
open. There the portfolio is valued once and the due symbols are traded in the order and with
the sizes `nzeza.research.portfolio.backtest_portfolio` uses (vectorbt, shared cash):

- value   = cash + Σ position × open          (un-slipped; a symbol's last known open when it
                                               has none at this bar)
- order   = weight × value / open − position  (per due symbol, in units)
- the due symbols run by approximate order value (weight × value − position × open), lowest
  first: sells before buys, so what sells release pays for the buys (ties: panel order);
- a buy fills at open × (1 + slippage) and pays fee × notional; a buy the shared cash cannot pay
  shrinks to cash / (buy price × (1 + fee)), none when cash ≤ 0; sells and shorts are not
  cash-limited; an order below `MIN_SIZE` units is not sent (nor a shrunk buy: what exact
  arithmetic leaves in cash after an all-in bar is dust that float arithmetic leaves at 0).

Each order is sized against the cash the previous fills of the bar left (`size_next`), so the
loop that owns the venue applies each fill before sizing the next.

Several venues (`accounts`: one cash account per venue name, each a `Portfolio` of that
venue's instruments): the value (and so every weight) is of the total equity, the sum over the
venues; a buy is limited by the cash of its own venue's account, never by another venue's (no
cash moves between venues). With one venue the two are the same. Every order is journaled as
an intent before it exists (one sequence of client order ids per session, across symbols).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nzeza.domain import Costs, Fill, Instrument, Order, Portfolio
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.engine.bars import utc_index
from nzeza.engine.sizing import SizedOrder
from nzeza.engine.trader import Intent, journal_intent
from nzeza.errors import ValidationError
from nzeza.execution.client_ids import ClientIds

if TYPE_CHECKING:
    from nzeza.store import Ledger

# vectorbt rejects orders below this many units (the research loop does the same)
MIN_SIZE = Decimal("1e-8")
# vectorbt compares cash with a relative tolerance before shrinking a buy (as `size_target`)
_REL_TOL = Decimal("1e-9")
PANEL_FIELDS = ("open", "high", "low", "close", "volume")


def size_weight(
    weight: Decimal,
    position: Decimal,
    cash: Decimal,
    value: Decimal,
    price: Decimal,
    costs: Costs,
    lot_size: Decimal | None = None,
) -> SizedOrder | None:
    """The order that moves `position` to `weight` × `value` at `price`, or None (see the
    module docstring: the research rule, in Decimal)."""
    if price <= 0 or value <= 0:
        return None
    delta = weight * value / price - position
    if abs(delta) < MIN_SIZE:
        return None
    if delta > 0:
        if cash <= 0:
            return None
        buy_price = price * (1 + costs.slippage_dec)
        needed = delta * buy_price * (1 + costs.fee_dec)
        if needed > cash and (needed - cash) > _REL_TOL * max(abs(needed), abs(cash)):
            delta = cash / (1 + costs.fee_dec) / buy_price
            if delta < MIN_SIZE:  # the dust Decimal leaves where float cash is 0
                return None
        side, qty = "buy", delta
    else:
        side, qty = "sell", -delta
    if lot_size is not None:
        qty = (qty / lot_size).to_integral_value(rounding=ROUND_DOWN) * lot_size
    if qty <= ZERO:
        return None
    return SizedOrder(side, qty, price)


class PanelWindow:
    """The last `size` aligned bars of several symbols, as the panel a portfolio strategy takes
    ((symbol, field) columns; NaN where a symbol had no bar)."""

    def __init__(self, symbols: list[str], size: int) -> None:
        self.symbols = list(symbols)
        self.size = max(int(size), 1)
        self._rows: deque[tuple[int, np.ndarray]] = deque(maxlen=self.size)
        self._columns = pd.MultiIndex.from_tuples(
            [(s, f) for s in self.symbols for f in PANEL_FIELDS], names=["symbol", "field"]
        )

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, ts: int, bars: Mapping[str, Any]) -> None:
        """One aligned close: `bars[symbol]` has open/high/low/close/volume (attributes or keys);
        a symbol missing from `bars` has no bar at `ts`."""
        row = np.full(len(self.symbols) * len(PANEL_FIELDS), np.nan)
        for j, sym in enumerate(self.symbols):
            bar = bars.get(sym)
            if bar is None:
                continue
            for k, f in enumerate(PANEL_FIELDS):
                v = bar[f] if isinstance(bar, Mapping) else getattr(bar, f)
                row[j * len(PANEL_FIELDS) + k] = float(v)
        self._rows.append((int(ts), row))

    def frame(self) -> pd.DataFrame:
        # the UTC index straight from the nanoseconds (`pd.to_datetime` of a list was 90 µs);
        # a copy of the columns, which a strategy may rename in place
        ts = np.fromiter((ts for ts, _ in self._rows), dtype=np.int64, count=len(self._rows))
        data = np.vstack([row for _, row in self._rows])
        return pd.DataFrame(data, index=utc_index(ts), columns=self._columns.copy(), copy=False)


@dataclass(frozen=True, slots=True)
class Rebalance:
    """The due symbols of one execution, in execution order, and the value they are sized on."""

    ts: int
    value: Decimal
    due: list[tuple[str, Decimal]]  # (symbol, weight)
    decided_at: int


class PortfolioTrader:
    """The session core for a portfolio strategy (module docstring). No sockets, no loop."""

    def __init__(
        self,
        strategy: Any,
        instruments: Mapping[str, Instrument],
        costs: Costs,
        portfolio: Portfolio,
        *,
        session_id: str,
        ledger: Ledger | None = None,
        venue: str = "paper",
        precomputed_weights: pd.DataFrame | None = None,
        on_event: Callable[[str, dict], None] | None = None,
        accounts: Mapping[str, Portfolio] | None = None,
    ) -> None:
        if not hasattr(strategy, "weights"):
            raise ValidationError(
                "strategy",
                getattr(strategy, "name", type(strategy).__name__),
                "is not a portfolio strategy (no weights(panel))",
            )
        self.strategy = strategy
        self.symbols = list(instruments)
        self.instruments = dict(instruments)
        self.costs = costs
        self.portfolio = portfolio
        self.session_id = session_id
        self.ledger = ledger
        self.venue = venue
        self.warmup = max(int(getattr(strategy, "warmup", 1) or 1), 1)
        self.window = PanelWindow(self.symbols, self.warmup)
        self.precomputed: list[list[float]] | None = None
        if precomputed_weights is not None:
            frame = precomputed_weights.reindex(columns=self.symbols).fillna(0.0)
            self.precomputed = frame.to_numpy(dtype=np.float64).tolist()
        self.on_event = on_event or (lambda kind, data: None)
        self.seq = ledger.last_intent_seq(session_id) if ledger is not None else 0
        self.ids = ClientIds(session_id, venue, ledger)
        self.last_weights: list[float] = [0.0] * len(self.symbols)
        self.last_open: dict[str, Decimal] = {}
        self.pending: tuple[list[float], int] | None = None  # (weights, decided at bar ts)
        self.bars_seen = 0
        # venue name -> its own cash account (module docstring); None: one venue
        self.accounts = dict(accounts) if accounts is not None else None
        self._venue_of = {i.id: i.venue for i in self.instruments.values()}

    def cash_for(self, symbol: str) -> Decimal:
        """The cash a buy of `symbol` may spend: its venue's account's (one venue: the
        portfolio's)."""
        if self.accounts is None:
            return self.portfolio.snapshot().cash
        return self.accounts[self.instruments[symbol].venue].snapshot().cash

    # -- decisions ------------------------------------------------------------------------
    def weights_at_close(self, ts: int, bars: Mapping[str, Any]) -> list[float]:
        """The strategy's weights for the aligned bar that just closed (last panel row)."""
        self.window.append(ts, bars)
        self.bars_seen += 1
        if self.precomputed is not None:
            return self.precomputed[self.bars_seen - 1]
        row = self.strategy.weights(self.window.frame()).iloc[-1]
        return [v if math.isfinite(v) else 0.0 for v in row.to_numpy(dtype=np.float64).tolist()]

    def on_bar_close(self, ts: int, bars: Mapping[str, Any]) -> list[float]:
        """Decide at an aligned close: changed weights are pending for the next open."""
        weights = self.weights_at_close(ts, bars)
        # against the weights the portfolio was last rebalanced to: a decision not yet executed
        # (several closes before one open) is replaced, or dropped when back to them
        self.pending = (list(weights), ts) if weights != self.last_weights else None
        return weights

    def skip_open(self) -> None:
        """A resuming session re-reading bars it had processed: the pending decision was
        executed at this open before the restart (the ledger holds its orders)."""
        if self.pending is not None:
            self.last_weights = list(self.pending[0])
            self.pending = None

    # -- execution ------------------------------------------------------------------------
    def rebalance_at(
        self, ts: int, opens: Mapping[str, Any], before: Any = None
    ) -> Rebalance | None:
        """The pending decision as the due symbols at this open (sorted, sells first) and the
        portfolio value they are sized on; None without a pending decision. `before` (a
        portfolio snapshot) values the portfolio as it was before some of this rebalance's
        orders filled (a session resuming in the middle of one); default: as it is now."""
        for sym, price in opens.items():
            if price is not None and not (isinstance(price, float) and math.isnan(price)):
                self.last_open[sym] = to_decimal(price, f"open[{sym}]")
        if self.pending is None:
            return None
        weights, decided = self.pending
        self.pending = None
        previous, self.last_weights = self.last_weights, list(weights)
        snap = before if before is not None else self.portfolio.snapshot()
        value = snap.cash
        positions = {}
        for sym in self.symbols:
            qty = snap.position(self.instruments[sym].id).quantity
            positions[sym] = qty
            if qty:
                value += qty * self.last_open[sym]
        due = []
        for j, sym in enumerate(self.symbols):
            if weights[j] != previous[j] and opens.get(sym) is not None and sym in self.last_open:
                if isinstance(opens[sym], float) and math.isnan(opens[sym]):
                    continue
                due.append((sym, to_decimal(weights[j], "weight")))
        due.sort(key=lambda d: d[1] * value - positions[d[0]] * self.last_open[d[0]])
        return Rebalance(ts, value, due, decided)

    def size_next(self, symbol: str, weight: Decimal, value: Decimal) -> SizedOrder | None:
        """One due symbol sized against the cash the bar's previous fills left."""
        snap = self.portfolio.snapshot()
        inst = self.instruments[symbol]
        return size_weight(
            weight,
            snap.position(inst.id).quantity,
            self.cash_for(symbol),
            value,
            self.last_open[symbol],
            self.costs,
            inst.lot_size,
        )

    def journal(
        self,
        symbol: str,
        side: str,
        quantity: Decimal,
        reference_price: Decimal,
        weight: Decimal,
        bar_ts: int,
        *,
        status: str | None = None,
    ) -> Intent:
        """The next intent of the session (any symbol), journaled before its order exists."""
        self.seq += 1
        intent = Intent(
            self.seq, self.ids(self.seq), side, quantity, reference_price, weight, bar_ts
        )
        journal_intent(self.ledger, self.session_id, intent, self.instruments[symbol].id, status)
        self.on_event("intent", {"seq": intent.seq, "side": side, "symbol": symbol})
        return intent

    def apply_fill(self, fill: Fill, order: Order | None = None) -> bool:
        """A fill into the shared portfolio and the ledger in one step (False if a duplicate)."""
        persist = None
        if self.ledger is not None:
            if self.portfolio.has_fill(fill.trade_id):
                return False
            venue = self.venue if self.accounts is None else self._venue_of[fill.instrument_id]
            persist = self.ledger.fill_writer(self.session_id, venue, fill, order)
        applied = self.portfolio.apply_fill(fill, persist=persist)
        if applied and self.accounts is not None:  # its venue's own cash account too
            self.accounts[self._venue_of[fill.instrument_id]].apply_fill(fill)
        if applied:
            self.on_event("fill", {"trade_id": fill.trade_id})
        return applied

    def marks_value(self, closes: Mapping[str, Decimal]) -> tuple[Decimal, Decimal, Decimal]:
        """(equity, gross, net) at `closes` (a symbol's last close where it has none)."""
        snap = self.portfolio.snapshot()
        gross = net = ZERO
        for sym in self.symbols:
            qty = snap.position(self.instruments[sym].id).quantity
            if qty:
                v = qty * closes[sym]
                gross += abs(v)
                net += v
        return snap.cash + net, gross, net


__all__ = [
    "MIN_SIZE",
    "PanelWindow",
    "PortfolioTrader",
    "Rebalance",
    "size_weight",
]
