"""Shared instruments, portfolios and contexts for the risk tests (imported as risk.riskkit)."""

from __future__ import annotations

import itertools
from decimal import Decimal

from nzeza.domain import Fill, Instrument, Portfolio
from nzeza.domain.intent import OrderIntent
from nzeza.risk import RiskContext

D = Decimal
BTC = Instrument("binance", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D(5))
ETH = Instrument("binance", "ETH/USDT", "ETH", "USDT", D("0.01"), D("0.0001"), D("0.0001"), D(5))
INSTRUMENTS = [BTC, ETH]
T0 = 1_723_161_254_000_000_000  # 2024-08-08 23:54 UTC, in ns
_ids = itertools.count()


def portfolio(*positions: tuple[Instrument, str, str]) -> Portfolio:
    """A USDT portfolio holding `positions` as (instrument, signed qty, price)."""
    pf = Portfolio("USDT", {"USDT": D(1_000_000)}, INSTRUMENTS)
    for inst, qty, price in positions:
        q = D(qty)
        side = "buy" if q > 0 else "sell"
        pf.apply_fill(
            Fill(f"t{next(_ids)}", "o", inst.id, side, abs(q), D(price), D(0), "USDT", T0)
        )
    return pf


def ctx(pf: Portfolio | None = None, marks=None, now=T0, **kw) -> RiskContext:
    pf = pf or portfolio()
    marks = marks or {BTC.id: D(60000), ETH.id: D(3000)}
    return RiskContext(pf.snapshot(), {k: D(v) for k, v in marks.items()}, now, **kw)


def buy(qty: str, inst: Instrument = BTC, **kw) -> OrderIntent:
    return OrderIntent(inst.id, "buy", D(qty), **kw)


def sell(qty: str, inst: Instrument = BTC, **kw) -> OrderIntent:
    return OrderIntent(inst.id, "sell", D(qty), **kw)
