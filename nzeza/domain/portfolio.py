"""The portfolio: balances per currency and positions per instrument.

Accounting model (one model for spot, margin and perpetuals): a fill moves its notional in the
instrument's quote currency (buy: cash −= qty × price; sell: cash += qty × price) and its fee out
of the fee currency, and changes the signed position. Equity at marks is every balance (converted
to the portfolio's currency) plus Σ quantity × mark.

Concurrency: the portfolio has exactly one writer (the session's task). Its whole state is one
immutable `PortfolioSnapshot`; `apply_fill` builds the next snapshot aside and publishes it with a
single reference assignment, so a reader — another thread, a dashboard, the metrics exporter —
sees either the state before a fill or the state after it, never half of one. No locks, so no
lock ordering and no deadlocks. `apply_fill` is atomic: on any error nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from nzeza.domain.fill import Fill
from nzeza.domain.instrument import Instrument
from nzeza.domain.numbers import ZERO, to_decimal
from nzeza.domain.position import Position
from nzeza.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Exposure:
    """Exposure in the portfolio currency: gross = Σ|value|, net = Σ value."""

    gross: Decimal
    net: Decimal
    by_instrument: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """An immutable view of the portfolio after `seq` fills."""

    currency: str
    balances: Mapping[str, Decimal]
    positions: Mapping[str, Position]
    fees_paid: Mapping[str, Decimal]
    seq: int = 0
    last_fill_ts: int = 0
    initial_balances: Mapping[str, Decimal] = field(default_factory=dict)
    # perpetuals: funding received (< 0 paid) per instrument, already in `balances`
    funding: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def cash(self) -> Decimal:
        return self.balances.get(self.currency, ZERO)

    def position(self, instrument_id: str) -> Position:
        return self.positions.get(instrument_id) or Position(instrument_id)

    def open_positions(self) -> dict[str, Position]:
        return {k: p for k, p in self.positions.items() if not p.is_flat}

    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)

    def unrealized_pnl(self, marks: Mapping[str, Any]) -> Decimal:
        return sum(
            (p.unrealized_pnl(_mark(marks, k)) for k, p in self.open_positions().items()), ZERO
        )

    def equity(self, marks: Mapping[str, Any], fx: Mapping[str, Any] | None = None) -> Decimal:
        """Cash (all currencies, via `fx` rates to the portfolio currency) + Σ qty × mark."""
        total = ZERO
        for ccy, amount in self.balances.items():
            if ccy == self.currency:
                total += amount
            elif amount != 0:
                if not fx or ccy not in fx:
                    raise ValidationError("fx", ccy, f"no rate to convert {ccy} balance")
                total += amount * to_decimal(fx[ccy], f"fx[{ccy}]")
        for key, pos in self.open_positions().items():
            total += pos.market_value(_mark(marks, key))
        return total

    def exposure(self, marks: Mapping[str, Any]) -> Exposure:
        values = {k: p.market_value(_mark(marks, k)) for k, p in self.open_positions().items()}
        return Exposure(
            gross=sum((abs(v) for v in values.values()), ZERO),
            net=sum(values.values(), ZERO),
            by_instrument=MappingProxyType(values),
        )


def _mark(marks: Mapping[str, Any], instrument_id: str) -> Decimal:
    if instrument_id not in marks:
        raise ValidationError("marks", instrument_id, "has an open position but no mark price")
    return to_decimal(marks[instrument_id], f"marks[{instrument_id}]")


class Portfolio:
    """Balances and positions, changed only by `apply_fill`; read through `snapshot()`."""

    def __init__(
        self,
        currency: str = "USDT",
        balances: Mapping[str, Any] | None = None,
        instruments: Mapping[str, Instrument] | list[Instrument] | None = None,
    ) -> None:
        start = {c: to_decimal(v, f"balances[{c}]") for c, v in (balances or {}).items()}
        start.setdefault(currency, ZERO)
        items = instruments.values() if isinstance(instruments, Mapping) else instruments or []
        self._instruments: dict[str, Instrument] = {i.id: i for i in items}
        self._trade_ids: set[str] = set()
        self._funding_keys: set[tuple[str, int]] = set()
        self._state = PortfolioSnapshot(
            currency=currency,
            balances=MappingProxyType(dict(start)),
            positions=MappingProxyType({}),
            fees_paid=MappingProxyType({}),
            initial_balances=MappingProxyType(dict(start)),
        )

    # -- reading --------------------------------------------------------------------------
    def snapshot(self) -> PortfolioSnapshot:
        """The current state: immutable, consistent, safe to hand to any reader."""
        return self._state

    @property
    def currency(self) -> str:
        return self._state.currency

    def instrument(self, instrument_id: str) -> Instrument:
        try:
            return self._instruments[instrument_id]
        except KeyError:
            raise ValidationError("instrument_id", instrument_id, "is not registered") from None

    def add_instrument(self, instrument: Instrument) -> None:
        self._instruments[instrument.id] = instrument

    def has_fill(self, trade_id: str) -> bool:
        return trade_id in self._trade_ids

    # Convenience pass-throughs to the current snapshot.
    def position(self, instrument_id: str) -> Position:
        return self._state.position(instrument_id)

    def equity(self, marks: Mapping[str, Any], fx: Mapping[str, Any] | None = None) -> Decimal:
        return self._state.equity(marks, fx)

    def exposure(self, marks: Mapping[str, Any]) -> Exposure:
        return self._state.exposure(marks)

    # -- writing (one writer) -------------------------------------------------------------
    def apply_fill(
        self, fill: Fill, persist: Callable[[PortfolioSnapshot], None] | None = None
    ) -> bool:
        """Apply a fill atomically. Returns False (and changes nothing) for a duplicate trade id.

        `persist`, if given, is called with the next state before it is published (the session
        writes the fill and the new positions to the ledger in one transaction there); if it
        raises, nothing changes here either, so memory and ledger never disagree.
        """
        if fill.trade_id in self._trade_ids:
            return False
        nxt = self.preview_fill(fill)
        if persist is not None:
            persist(nxt)
        self._state = nxt  # the single publishing step
        self._trade_ids.add(fill.trade_id)
        return True

    def preview_fill(self, fill: Fill) -> PortfolioSnapshot:
        """The state `fill` would produce, without publishing it (validates the fill)."""
        state = self._state
        inst = self.instrument(fill.instrument_id)
        if inst.quote != state.currency:
            raise ValidationError(
                "fill.instrument_id",
                fill.instrument_id,
                f"quote {inst.quote} differs from portfolio currency {state.currency}",
            )
        balances = dict(state.balances)
        balances[inst.quote] = balances.get(inst.quote, ZERO) - fill.signed_qty * fill.price
        balances[fill.fee_currency] = balances.get(fill.fee_currency, ZERO) - fill.fee
        fee_in_quote = fill.fee if fill.fee_currency == inst.quote else ZERO
        position = state.position(fill.instrument_id).apply(fill, fee_in_quote)
        positions = dict(state.positions)
        positions[fill.instrument_id] = position
        fees = dict(state.fees_paid)
        fees[fill.fee_currency] = fees.get(fill.fee_currency, ZERO) + fill.fee
        return PortfolioSnapshot(
            currency=state.currency,
            balances=MappingProxyType(balances),
            positions=MappingProxyType(positions),
            fees_paid=MappingProxyType(fees),
            seq=state.seq + 1,
            last_fill_ts=max(state.last_fill_ts, fill.ts),
            initial_balances=state.initial_balances,
            funding=state.funding,
        )

    def has_funding(self, instrument_id: str, ts: int) -> bool:
        return (instrument_id, ts) in self._funding_keys

    def apply_funding(
        self,
        instrument_id: str,
        ts: int,
        amount: Any,
        persist: Callable[[PortfolioSnapshot], None] | None = None,
    ) -> bool:
        """Credit a funding payment (`amount` received, < 0 paid, in the instrument's quote)
        for the funding time `ts`. False (nothing changes) for a time already applied; like
        `apply_fill`, `persist` sees the next state first and nothing changes if it raises."""
        key = (instrument_id, int(ts))
        if key in self._funding_keys:
            return False
        value = to_decimal(amount, "funding.amount")
        state = self._state
        quote = self.instrument(instrument_id).quote
        balances = dict(state.balances)
        balances[quote] = balances.get(quote, ZERO) + value
        funding = dict(state.funding)
        funding[instrument_id] = funding.get(instrument_id, ZERO) + value
        nxt = PortfolioSnapshot(
            currency=state.currency,
            balances=MappingProxyType(balances),
            positions=state.positions,
            fees_paid=state.fees_paid,
            seq=state.seq,
            last_fill_ts=state.last_fill_ts,
            initial_balances=state.initial_balances,
            funding=MappingProxyType(funding),
        )
        if persist is not None:
            persist(nxt)
        self._state = nxt
        self._funding_keys.add(key)
        return True

    def restore(
        self,
        snapshot: PortfolioSnapshot,
        trade_ids: set[str],
        funding_keys: set[tuple[str, int]] | None = None,
    ) -> None:
        """Replace the state wholesale (recovery from the ledger)."""
        self._state = snapshot
        self._trade_ids = set(trade_ids)
        self._funding_keys = set(funding_keys or ())


__all__ = [
    "Exposure",
    "Portfolio",
    "PortfolioSnapshot",
]
