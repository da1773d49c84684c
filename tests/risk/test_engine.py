"""Each risk check at, just under and just over its limit; journal, counts and ordering."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from risk.riskkit import BTC, ETH, INSTRUMENTS, T0, buy, ctx, portfolio, sell

from nzeza.domain import Order
from nzeza.errors import RiskRejected
from nzeza.risk import Action, RiskConfig, RiskEngine

D = Decimal


def engine(**cfg) -> RiskEngine:
    return RiskEngine(RiskConfig(**cfg), INSTRUMENTS)


def verdicts(eng: RiskEngine, intents, context) -> list[str]:
    return [eng.check(i, context).action.value for i in intents]


def test_max_order_qty_at_under_over():
    eng = engine(max_order_qty=D(1))
    assert verdicts(eng, [buy("0.99999"), buy("1"), buy("1.00001")], ctx()) == [
        "accept",
        "accept",
        "reject",
    ]
    rej = eng.check(buy("1.00001"), ctx()).rejection
    assert (rej.check, rej.limit, rej.value) == ("max_order_qty", D(1), D("1.00001"))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=10, max_value=300_000))  # >= min notional 5 at 60000
def test_max_order_qty_property(lots):
    qty = D(lots) * BTC.lot_size
    d = engine(max_order_qty=D(1)).check(buy(str(qty)), ctx())
    assert d.accepted == (qty <= 1)


def test_max_order_notional_at_under_over():
    eng = engine(max_order_notional=D(60000))  # mark 60000
    assert verdicts(eng, [buy("0.99999"), buy("1"), buy("1.00001")], ctx()) == [
        "accept",
        "accept",
        "reject",
    ]
    # A limit order is valued at its own price, not the mark.
    assert not eng.check(buy("1", type="limit", price=D("60000.01")), ctx()).accepted


def test_position_limit_counts_position_and_pending_orders():
    eng = engine(position_limits={BTC.id: D(2)})
    c = ctx(portfolio((BTC, "1", "60000")))
    assert verdicts(eng, [buy("0.99999"), buy("1"), buy("1.00001")], c) == [
        "accept",
        "accept",
        "reject",
    ]
    rej = eng.check(buy("1.00001"), c).rejection
    assert rej.check == "position_limit" and rej.value == D("2.00001")
    # A resting buy of 0.5 counts as if filled.
    resting = Order("r1", BTC, "buy", D("0.5"), "limit", D(59000))
    resting.apply(__import__("nzeza.domain", fromlist=["OrderSubmitted"]).OrderSubmitted())
    c2 = ctx(portfolio((BTC, "1", "60000")), open_orders=[resting])
    assert verdicts(eng, [buy("0.5"), buy("0.50001")], c2) == ["accept", "reject"]
    # Reducing is always allowed, and a short side is limited too.
    assert eng.check(sell("1"), c).accepted
    assert verdicts(eng, [sell("3"), sell("3.00001")], c) == ["accept", "reject"]


def test_gross_exposure_at_under_over():
    eng = engine(max_gross_exposure=D(120000))
    c = ctx(portfolio((BTC, "1", "60000")))  # gross 60000
    assert verdicts(eng, [buy("20", ETH), buy("19.9999", ETH), buy("20.0001", ETH)], c) == [
        "accept",
        "accept",
        "reject",
    ]
    # Shorting ETH adds to gross exactly like buying it.
    assert verdicts(eng, [sell("20", ETH), sell("20.0001", ETH)], c) == ["accept", "reject"]


def test_instrument_exposure_caps_each_symbol_and_clips_on_amend():
    # a per-symbol cap: one instrument's |position| × mark after the order, whatever the rest
    eng = engine(max_instrument_exposure=D(120000))
    c = ctx(portfolio((BTC, "1", "60000"), (ETH, "30", "3000")))  # BTC 60000, ETH 90000
    assert verdicts(eng, [buy("1", BTC), buy("0.99999", BTC), buy("1.00001", BTC)], c) == [
        "accept",
        "accept",
        "reject",
    ]
    rej = eng.check(buy("10.0001", ETH), c).rejection  # ETH 120000.3 after
    assert (rej.check, rej.value, rej.detail) == ("instrument_exposure", D("120000.3000"), ETH.id)
    assert eng.check(sell("3", BTC), c).accepted  # reducing never breaches
    rej = eng.check(sell("3.00001", BTC), c).rejection  # a flip to short 2.00001 × 60000
    assert rej.check == "instrument_exposure"
    amend = engine(max_instrument_exposure="50%", on_size_breach="amend")  # equity 1,000,000
    d = amend.check(buy("10", BTC), ctx(portfolio((BTC, "1", "60000"))))
    assert d.action is Action.AMEND and d.resized[0].check == "instrument_exposure"
    # clipped to the largest lot with (1 + q) × 60000 <= 50 % of the equity at the marks
    assert d.intent.quantity == D("7.33333")


def test_net_exposure_at_under_over_and_hedges_pass():
    eng = engine(max_net_exposure=D(90000), max_gross_exposure=D(500000))
    c = ctx(portfolio((BTC, "1", "60000")))  # net 60000
    assert verdicts(eng, [buy("10", ETH), buy("9.9999", ETH), buy("10.0001", ETH)], c) == [
        "accept",
        "accept",
        "reject",
    ]
    assert eng.check(sell("40", ETH), c).accepted  # net 60000 - 120000 = -60000
    rej = eng.check(sell("50.0001", ETH), c).rejection  # net -90000.3
    assert rej.check == "net_exposure" and rej.value == D("90000.3000")


def test_max_open_positions_at_under_over():
    eng = engine(max_open_positions=2)
    one = ctx(portfolio((BTC, "1", "60000")))
    two = ctx(portfolio((BTC, "1", "60000"), (ETH, "1", "3000")))
    assert eng.check(buy("1", ETH), ctx()).accepted  # under: 1 after
    assert eng.check(buy("1", ETH), one).accepted  # at: 2 after
    assert eng.check(buy("1", BTC), two).accepted  # adding to an open one keeps 2
    eng3 = RiskEngine(RiskConfig(max_open_positions=1), INSTRUMENTS)
    rej = eng3.check(buy("1", ETH), one).rejection  # over: 2 after, limit 1
    assert (rej.check, rej.limit, rej.value) == ("max_open_positions", 1, 2)


def _open_orders(n: int) -> list[Order]:
    from nzeza.domain import OrderSubmitted

    out = []
    for i in range(n):
        o = Order(f"o{i}", BTC, "buy", D("0.001"), "limit", D(50000))
        o.apply(OrderSubmitted())
        out.append(o)
    return out


def test_max_open_orders_at_under_over():
    eng = engine(max_open_orders=3)
    assert eng.check(buy("0.001"), ctx(open_orders=_open_orders(1))).accepted
    assert eng.check(buy("0.001"), ctx(open_orders=_open_orders(2))).accepted
    rej = eng.check(buy("0.001"), ctx(open_orders=_open_orders(3))).rejection
    assert (rej.check, rej.limit, rej.value) == ("max_open_orders", 3, 4)


def test_price_band_at_under_over():
    eng = engine(price_band_bps=D(100))
    c = ctx(reference_prices={BTC.id: D(60000)})

    def lim(p: str):
        return buy("0.1", type="limit", price=D(p))

    assert verdicts(eng, [lim("60599.99"), lim("60600"), lim("60600.01")], c) == [
        "accept",
        "accept",
        "reject",
    ]
    assert verdicts(eng, [lim("59400"), lim("59399.99")], c) == ["accept", "reject"]
    assert eng.check(buy("0.1"), c).accepted  # market orders are the slippage check's job


def test_order_rate_limit_window():
    eng = engine(max_orders_per_window=3, rate_window_s=1.0)
    got = [eng.check(buy("0.001"), ctx(now=T0 + i)).action.value for i in range(4)]
    assert got == ["accept", "accept", "accept", "reject"]
    # Rejections do not consume the budget; the window slides.
    assert not eng.check(buy("0.001"), ctx(now=T0 + 999_999_999)).accepted
    assert eng.check(buy("0.001"), ctx(now=T0 + 1_000_000_000)).accepted


def test_reduce_only_mode_and_reduce_only_orders():
    eng = engine(reduce_only=True)
    c = ctx(portfolio((BTC, "1", "60000")))
    assert verdicts(eng, [sell("1"), sell("0.5"), sell("1.00001"), buy("0.1")], c) == [
        "accept",
        "accept",
        "reject",
        "reject",
    ]
    eng2 = engine()
    assert not eng2.check(buy("0.1", reduce_only=True), c).accepted
    assert eng2.check(sell("0.1", reduce_only=True), c).accepted


def test_invalid_intent_is_a_rejection_naming_the_field():
    eng = engine()
    d = eng.check(buy("0.000001"), ctx())  # off the lot
    assert d.rejection.check == "instrument" and "quantity" in d.rejection.detail
    d = eng.check(buy("1", inst=BTC).with_changes(instrument_id="binance:NOPE/USDT"), ctx())
    assert d.rejection.check == "instrument" and d.rejection.value == "binance:NOPE/USDT"
    d = eng.check(buy("0.00001"), ctx())  # 0.6 USDT < min notional 5
    assert d.rejection.check == "instrument" and "notional" in d.rejection.detail


def test_rejections_are_counted_and_journaled_in_order():
    seen: list[tuple[RiskRejected, object, int]] = []
    eng = RiskEngine(
        RiskConfig(max_order_qty=D(1), max_order_notional=D(30000)),
        INSTRUMENTS,
        journal=lambda r, i, ts: seen.append((r, i, ts)),
    )
    d = eng.check(buy("2"), ctx())  # breaks both; the first in order reports
    assert d.rejection.check == "max_order_qty"
    assert d.checks[-1] == "max_order_qty"
    eng.check(buy("0.6"), ctx(now=T0 + 5))
    assert eng.rejections == {"max_order_qty": 1, "max_order_notional": 1}
    assert [(r.check, ts) for r, _, ts in seen] == [
        ("max_order_qty", T0),
        ("max_order_notional", T0 + 5),
    ]
    assert isinstance(seen[0][0], RiskRejected) and "max_order_qty" in str(seen[0][0])


def test_check_order_is_configurable():
    cfg = RiskConfig(
        checks=("max_order_notional", "max_order_qty"),
        max_order_qty=D(1),
        max_order_notional=D(30000),
    )
    d = RiskEngine(cfg, INSTRUMENTS).check(buy("2"), ctx())
    assert d.rejection.check == "max_order_notional"


def test_market_order_without_any_price_is_rejected():
    d = engine(max_order_notional=D(1000)).check(buy("0.01"), ctx(marks={ETH.id: 1}))
    assert d.rejection.check == "instrument" and d.rejection.value is None


@pytest.mark.parametrize("action", ["accept", "reject"])
def test_decision_carries_the_normalised_intent(action):
    eng = engine(max_order_qty=D(1))
    d = eng.check(buy("0.5" if action == "accept" else "5"), ctx())
    assert d.action == Action(action)
    assert d.intent.side.value == "buy"


# -- resizing an order that breaches a size limit: AMEND or TWAP ---------------------------------
def test_amend_reduces_an_order_to_the_largest_size_every_limit_allows():
    eng = engine(max_order_notional=D(6000), on_size_breach="amend")  # mark 60000
    d = eng.check(buy("0.3"), ctx())
    assert d.action is Action.AMEND and d.intent.quantity == D("0.1")
    assert d.rejection is None and d.max_child_qty is None
    assert [r.check for r in d.resized] == ["max_order_notional"]  # what to record
    # the amended size is checked again: another limit that binds lower wins
    eng = engine(max_order_notional=D(6000), max_order_qty=D("0.05"), on_size_breach="amend")
    assert eng.check(buy("0.3"), ctx()).intent.quantity == D("0.05")
    # within limits: untouched
    assert (
        engine(max_order_notional=D(6000), on_size_breach="amend").check(buy("0.1"), ctx()).action
        is Action.ACCEPT
    )


def test_twap_keeps_the_parent_and_bounds_each_child():
    eng = engine(max_order_notional=D(6000), on_size_breach="twap")
    d = eng.check(buy("0.35"), ctx())
    assert d.action is Action.TWAP
    assert d.intent.quantity == D("0.35") and d.max_child_qty == D("0.1")


def test_exposure_limits_reduce_the_parent_even_for_twap():
    eng = engine(max_gross_exposure=D(90000), max_order_notional=D(12000), on_size_breach="twap")
    c = ctx(portfolio((BTC, "1", "60000")))  # gross 60000: room for 0.5 BTC more
    d = eng.check(buy("2"), c)
    assert d.action is Action.TWAP
    assert d.intent.quantity == D("0.5") and d.max_child_qty == D("0.2")
    # when the clipped parent fits one order, it is simply amended
    eng = engine(max_gross_exposure=D(90000), max_order_notional=D(30000), on_size_breach="twap")
    d = eng.check(buy("2"), c)
    assert d.action is Action.AMEND and d.intent.quantity == D("0.5")
    # a flip is bounded by |position after|, in both directions
    eng = engine(max_gross_exposure=D(60000), on_size_breach="amend")
    d = eng.check(sell("3"), c)  # long 1 → at most short 1
    assert d.action is Action.AMEND and d.intent.quantity == D("2")


def test_net_exposure_and_position_limit_caps():
    eng = engine(max_net_exposure=D(90000), max_gross_exposure=D(500000), on_size_breach="amend")
    c = ctx(portfolio((BTC, "1", "60000")))
    assert eng.check(buy("20", ETH), c).intent.quantity == D("10")  # net 60000 + 30000
    eng = engine(position_limits={BTC.id: D(2)}, on_size_breach="amend")
    assert eng.check(buy("5"), c).intent.quantity == D("1")
    assert eng.check(sell("5"), c).intent.quantity == D("3")


def test_nothing_left_to_trade_is_still_a_rejection():
    eng = engine(max_gross_exposure=D(60000), on_size_breach="amend")
    c = ctx(portfolio((BTC, "1", "60000")))  # at the limit already
    d = eng.check(buy("0.1"), c)
    assert d.action is Action.REJECT and d.rejection.check == "gross_exposure"
    eng = engine(max_order_notional=D(3), on_size_breach="twap")  # below the min notional 5
    d = eng.check(buy("0.1"), ctx())
    assert d.action is Action.REJECT and d.rejection.check == "max_order_notional"


def test_limits_as_a_share_of_equity_follow_the_account():
    from nzeza.risk import EquityShare

    # 1,000,000 USDT of cash: 1% = 10,000 = 1/6 BTC at 60000
    eng = engine(max_order_notional=EquityShare(D("0.01")))
    assert eng.check(buy("0.16666"), ctx()).accepted
    rej = eng.check(buy("0.16667"), ctx()).rejection
    assert rej.check == "max_order_notional" and "1% of equity" in str(rej.limit)
    # the string form is the same limit
    assert RiskConfig(max_order_notional="1%").max_order_notional == EquityShare(D("0.01"))
    # equity that grows lets the same share buy more
    rich = portfolio((BTC, "10", "60000"))  # cash 400,000 + 10 BTC
    c = ctx(rich, marks={BTC.id: D(120000), ETH.id: D(3000)})  # equity 1,600,000
    assert eng.check(buy("0.13333"), c).accepted and not eng.check(buy("0.134"), c).accepted


def test_daily_loss_as_a_share_of_equity_at_the_period_start():
    eng = engine(daily_loss_limit="5%")  # 5% of 1,000,000 = 50,000
    c0 = ctx(portfolio((BTC, "10", "60000")))
    assert eng.check(buy("0.1"), c0).accepted
    assert eng.breaker.limit == D(50000)
    down = ctx(portfolio((BTC, "10", "60000")), marks={BTC.id: D(55001), ETH.id: D(3000)})
    assert eng.check(buy("0.1"), down).accepted  # lost 49,990
    down = ctx(portfolio((BTC, "10", "60000")), marks={BTC.id: D(55000), ETH.id: D(3000)})
    rej = eng.check(buy("0.1"), down).rejection
    assert rej.check == "daily_loss"
