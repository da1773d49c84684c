"""The daily-loss breaker trips at its limit, blocks risk-increasing orders, can flatten."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from risk.riskkit import BTC, ETH, INSTRUMENTS, T0, buy, ctx, portfolio, sell

from nzeza.domain import Side
from nzeza.risk import Action, DailyLossBreaker, RiskConfig, RiskEngine

D = Decimal
DAY = 86_400 * 10**9


def test_breaker_unit_trips_at_limit_and_resets_next_utc_day():
    b = DailyLossBreaker(D(100))
    assert not b.update(D(50), T0)  # baseline 50
    assert not b.update(D("-49.99"), T0 + 1) and not b.tripped  # loss 99.99: under
    assert b.update(D(-50), T0 + 2) and b.tripped  # loss 100: at → trips
    assert not b.update(D(-80), T0 + 3) and b.tripped  # stays tripped, reports once
    next_day = (T0 // DAY + 1) * DAY
    assert not b.update(D(-80), next_day) and not b.tripped and b.baseline == D(-80)


def test_session_period_never_resets_by_itself():
    b = DailyLossBreaker(D(10), period="session")
    b.update(D(0), T0)
    b.update(D(-10), T0 + 1)
    assert b.tripped
    b.update(D(-10), T0 + 5 * DAY)
    assert b.tripped


@given(st.decimals(min_value=-500, max_value=500, places=2))
def test_breaker_trips_exactly_when_loss_reaches_limit(pnl):
    b = DailyLossBreaker(D(100))
    b.update(D(0), T0)
    assert b.update(pnl, T0 + 1) == (-pnl >= 100)


def _engine(**kw) -> RiskEngine:
    return RiskEngine(RiskConfig(daily_loss_limit=D(1000), **kw), INSTRUMENTS)


def test_engine_breaker_trips_and_blocks_risk_increasing_orders():
    eng = _engine()
    pf = portfolio((BTC, "1", "60000"))
    eng.on_event(ctx(pf, {BTC.id: 60000, ETH.id: 3000}))  # baseline pnl 0
    under = ctx(pf, {BTC.id: D("59000.01"), ETH.id: 3000}, now=T0 + 1)
    assert eng.check(buy("0.1"), under).accepted and not eng.halted
    at = ctx(pf, {BTC.id: 59000, ETH.id: 3000}, now=T0 + 2)
    d = eng.check(buy("0.1"), at)
    assert d.action is Action.REJECT and d.rejection.check == "daily_loss"
    assert d.rejection.value == D(1000) and eng.halted
    # Risk-increasing orders on any instrument stay blocked, even after a recovery...
    recovered = ctx(pf, {BTC.id: 61000, ETH.id: 3000}, now=T0 + 3)
    assert not eng.check(buy("1", ETH), recovered).accepted
    assert not eng.check(sell("2"), recovered).accepted  # flips long → short: increases
    # ...while reducing orders pass, so the position can be closed.
    assert eng.check(sell("1"), recovered).accepted


def test_breaker_flattens_when_configured():
    eng = _engine(flatten_on_daily_loss=True)
    pf = portfolio((BTC, "1", "60000"), (ETH, "-2", "3000"))
    assert eng.on_event(ctx(pf)) == ()
    out = eng.on_event(ctx(pf, {BTC.id: 59000, ETH.id: 3001}, now=T0 + 1))
    assert [(i.instrument_id, i.side, i.quantity, i.reduce_only) for i in out] == [
        (BTC.id, Side.SELL, D(1), True),
        (ETH.id, Side.BUY, D(2), True),
    ]
    assert eng.on_event(ctx(pf, {BTC.id: 58000, ETH.id: 3001}, now=T0 + 2)) == ()  # once
    for intent in out:  # the flatten orders pass risk while the breaker is tripped
        assert eng.check(intent, ctx(pf, {BTC.id: 58000, ETH.id: 3001}, now=T0 + 3)).accepted


def test_realized_losses_and_fees_count():
    eng = _engine()
    eng.on_event(ctx(portfolio()))
    pf = portfolio((BTC, "1", "60000"), (BTC, "-1", "59000"))  # realized -1000, flat
    assert not eng.check(buy("0.1"), ctx(pf, now=T0 + 1)).accepted


@pytest.mark.parametrize(
    ("mark", "loss", "trips"),
    [("59000.01", "999.99", False), ("59000", "1000", True), ("58999.99", "1000.01", True)],
)
def test_engine_daily_loss_at_under_over(mark, loss, trips):
    eng = _engine()
    pf = portfolio((BTC, "1", "60000"))
    eng.on_event(ctx(pf))  # baseline at the mark of 60000: PnL 0
    d = eng.check(buy("0.1"), ctx(pf, {BTC.id: D(mark), ETH.id: 3000}, now=T0 + 1))
    assert eng.breaker.last_loss == D(loss)
    assert d.accepted is not trips and eng.halted is trips
    if trips:
        assert (d.rejection.check, d.rejection.limit, d.rejection.value) == (
            "daily_loss",
            D(1000),
            D(loss),
        )
