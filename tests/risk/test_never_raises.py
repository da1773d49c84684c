"""The risk engine never raises, whatever it is handed: every bad value is a rejection that
names the check it failed (documented in `RiskEngine.check`; a zero or NaN reference price and
a 1E+30 quantity raised DivisionByZero / InvalidOperation)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from risk.riskkit import BTC, ETH, INSTRUMENTS, T0, portfolio

from nzeza.domain.intent import OrderIntent
from nzeza.errors import RiskRejected
from nzeza.execution import SnapshotBook
from nzeza.risk import DEFAULT_CHECKS, Action, RiskConfig, RiskContext, RiskEngine
from nzeza.risk.config import EquityShare

D = Decimal
KNOWN = set(DEFAULT_CHECKS) | {"kill_switch", "reduce_only", "validation", "internal"}

# Any Decimal at all: NaN, sNaN, ±Infinity, zero, negatives, absurd exponents; plus None.
odd = st.one_of(
    st.none(),
    st.sampled_from(
        [
            D(0),
            D("-0"),
            D("NaN"),
            D("sNaN"),
            D("Infinity"),
            D("-Infinity"),
            D("1E+30"),
            D("1E-30"),
            D("1E+999999"),
            D("1E-999999999"),
            D("-1"),
            D("60000"),
            D("0.01"),
        ]
    ),
    st.decimals(allow_nan=True, allow_infinity=True),
)
limits = st.one_of(st.none(), st.decimals(min_value=D("0.0001"), max_value=D("1E+12")))


@st.composite
def configs(draw) -> RiskConfig:
    notional = draw(limits)
    gross = draw(limits)
    share = draw(st.one_of(st.none(), st.decimals(min_value=D("0.01"), max_value=D(5))))
    return RiskConfig(
        max_order_qty=draw(limits),
        max_order_notional=EquityShare(share) if share is not None else notional,
        max_gross_exposure=gross
        if notional is None or gross is None or gross >= notional
        else None,
        max_net_exposure=None,
        daily_loss_limit=draw(limits),
        price_band_bps=draw(limits),
        max_slippage_bps=draw(limits),
        max_open_positions=draw(st.one_of(st.none(), st.integers(1, 3))),
        max_orders_per_window=draw(st.one_of(st.none(), st.integers(1, 3))),
        on_size_breach=draw(st.sampled_from(["reject", "amend", "twap"])),
        flatten_on_daily_loss=False,
    )


@settings(max_examples=400, deadline=None)
@given(
    cfg=configs(),
    side=st.sampled_from(["buy", "sell", "BUY", "hold", ""]),
    otype=st.sampled_from(["market", "limit", "stop", "stop_limit", "iceberg"]),
    qty=odd,
    price=odd,
    stop=odd,
    mark=odd,
    ref=odd,
    book_price=odd,
    held=st.sampled_from(["0", "1", "-1", "0.5"]),
)
def test_check_never_raises(cfg, side, otype, qty, price, stop, mark, ref, book_price, held):
    eng = RiskEngine(cfg, INSTRUMENTS)
    pf = portfolio((BTC, held, "60000")) if held != "0" else portfolio()
    marks = {ETH.id: D(3000)}
    if mark is not None:
        marks[BTC.id] = mark
    refs = {BTC.id: ref} if ref is not None else {}
    book = None
    if book_price is not None:
        try:
            book = SnapshotBook.from_levels([(book_price, D(1))], [(book_price, D(1))])
        except Exception:
            book = None
    intent = OrderIntent(BTC.id, side, qty, type=otype, price=price, stop_price=stop)
    ctx = RiskContext(pf.snapshot(), marks, T0, book=book, reference_prices=refs)
    decision = eng.check(intent, ctx)  # must not raise
    assert decision.action in set(Action)
    if decision.action is Action.REJECT:
        assert isinstance(decision.rejection, RiskRejected)
        assert decision.rejection.check in KNOWN, decision.rejection
    else:
        assert decision.rejection is None
        assert decision.intent.quantity.is_finite() and decision.intent.quantity > 0
    eng.on_event(ctx)  # the per-event hook never raises either


def test_the_reported_crashes_are_rejections_naming_their_check() -> None:
    eng = RiskEngine(RiskConfig(max_order_notional=D(1000), price_band_bps=D(100)), INSTRUMENTS)
    pf = portfolio()
    for mark, qty in [(D(0), D("0.01")), (D("NaN"), D("0.01")), (D(60000), D("1E+30"))]:
        ctx = RiskContext(pf.snapshot(), {BTC.id: mark}, T0, reference_prices={BTC.id: mark})
        for intent in (
            OrderIntent(BTC.id, "buy", qty),
            OrderIntent(BTC.id, "buy", qty, type="limit", price=D(60000)),
        ):
            d = eng.check(intent, ctx)
            assert d.action is Action.REJECT and d.rejection.check in KNOWN, (mark, qty, d)
