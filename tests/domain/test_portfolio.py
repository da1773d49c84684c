"""Position and portfolio invariants over random fill sequences (hypothesis)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.domain import Fill, Instrument, Portfolio, Position
from nzeza.errors import ValidationError

BTC = Instrument("paper", "BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.001"))
ETH = Instrument("paper", "ETH/USDT", "ETH", "USDT", Decimal("0.01"), Decimal("0.01"))
INIT = Decimal(100_000)
TOL = Decimal("1e-18")

prices = st.integers(min_value=100, max_value=10_000_000).map(lambda t: Decimal(t) / 100)
qtys = st.integers(min_value=1, max_value=5_000).map(lambda lots: Decimal(lots) / 1000)
fee_rates = st.sampled_from([Decimal(0), Decimal("0.0002"), Decimal("0.001")])
fill_specs = st.lists(
    st.tuples(
        st.sampled_from([BTC, ETH]), st.sampled_from(["buy", "sell"]), qtys, prices, fee_rates
    ),
    min_size=1,
    max_size=40,
)


def make_fills(specs: list) -> list[Fill]:
    fills = []
    for i, (inst, side, qty, price, rate) in enumerate(specs):
        fee = qty * price * rate
        fills.append(Fill(f"t{i}", f"o{i}", inst.id, side, qty, price, fee, "USDT", i))
    return fills


def last_prices(fills: list[Fill]) -> dict[str, Decimal]:
    return {f.instrument_id: f.price for f in fills}


@settings(max_examples=300, deadline=None)
@given(fill_specs)
def test_accounting_identity_holds_after_any_fill_sequence(specs: list) -> None:
    pf = Portfolio("USDT", {"USDT": INIT}, [BTC, ETH])
    fills = make_fills(specs)
    for n, fill in enumerate(fills, start=1):
        assert pf.apply_fill(fill)
        snap = pf.snapshot()
        marks = last_prices(fills[:n])
        fees = snap.fees_paid.get("USDT", Decimal(0))
        # equity at marks == cash + Σ position market values
        market = sum((p.quantity * marks[k] for k, p in snap.positions.items()), Decimal(0))
        assert snap.equity(marks) == snap.cash + market
        # cash + position value − fees is conserved at the fill prices: it equals the initial
        # cash plus the PnL the positions report.
        pnl = snap.realized_pnl() + snap.unrealized_pnl(marks)
        assert abs(snap.equity(marks) + fees - (INIT + pnl)) <= TOL
        # fees booked on positions equal the fees paid in the quote currency
        assert sum((p.fees for p in snap.positions.values()), Decimal(0)) == fees
        assert snap.seq == n
        # exposure: per instrument = qty × mark; gross = Σ|value| ≥ |net| = |Σ value|
        exp = snap.exposure(marks)
        for key, pos in snap.open_positions().items():
            assert exp.by_instrument[key] == pos.quantity * marks[key]
        assert exp.gross == sum((abs(v) for v in exp.by_instrument.values()), Decimal(0))
        assert exp.net == sum(exp.by_instrument.values(), Decimal(0))
        assert exp.gross >= abs(exp.net)
        # a flat position has no average entry; an open one has a positive one
        for pos in snap.positions.values():
            assert (pos.avg_entry_price == 0) if pos.is_flat else (pos.avg_entry_price > 0)


@settings(max_examples=200, deadline=None)
@given(prices, prices, qtys, st.sampled_from(["long", "short"]))
def test_round_trip_realizes_price_difference_times_qty(entry, exit_, qty, direction) -> None:
    open_side, close_side = ("buy", "sell") if direction == "long" else ("sell", "buy")
    pos = Position(BTC.id)
    pos = pos.apply(Fill("a", "o1", BTC.id, open_side, qty, entry, Decimal(0), "USDT", 1))
    pos = pos.apply(Fill("b", "o2", BTC.id, close_side, qty, exit_, Decimal(0), "USDT", 2))
    expected = (exit_ - entry) * qty if direction == "long" else (entry - exit_) * qty
    assert pos.is_flat
    assert pos.realized_pnl == expected
    assert pos.avg_entry_price == 0


@settings(max_examples=200, deadline=None)
@given(qtys, qtys, prices, prices)
def test_partial_fills_in_pieces_equal_one_fill(q1, q2, p1, p2) -> None:
    whole = Position(BTC.id).apply(
        Fill("a", "o", BTC.id, "buy", q1 + q2, p1, Decimal(0), "USDT", 1)
    )
    parts = Position(BTC.id)
    parts = parts.apply(Fill("b", "o", BTC.id, "buy", q1, p1, Decimal(0), "USDT", 1))
    parts = parts.apply(Fill("c", "o", BTC.id, "buy", q2, p1, Decimal(0), "USDT", 2))
    assert parts.quantity == whole.quantity
    assert abs(parts.avg_entry_price - whole.avg_entry_price) <= TOL
    assert abs(parts.unrealized_pnl(p2) - whole.unrealized_pnl(p2)) <= TOL


def test_flip_closes_and_opens_other_side_at_fill_price() -> None:
    pos = Position(BTC.id).apply(
        Fill("a", "o", BTC.id, "buy", Decimal(1), Decimal(100), 0, "USDT", 1)
    )
    pos = pos.apply(Fill("b", "o2", BTC.id, "sell", Decimal(3), Decimal(110), 0, "USDT", 2))
    assert pos.quantity == Decimal(-2)
    assert pos.avg_entry_price == Decimal(110)
    assert pos.realized_pnl == Decimal(10)
    assert pos.unrealized_pnl(Decimal(100)) == Decimal(20)  # short 2 from 110 marked at 100


def test_fees_are_separate_from_realized_and_in_net_pnl() -> None:
    pos = Position(BTC.id)
    pos = pos.apply(
        Fill("a", "o", BTC.id, "buy", Decimal(1), Decimal(100), Decimal("0.1"), "USDT", 1)
    )
    pos = pos.apply(
        Fill("b", "o", BTC.id, "sell", Decimal(1), Decimal(105), Decimal("0.1"), "USDT", 2)
    )
    assert pos.realized_pnl == Decimal(5)
    assert pos.fees == Decimal("0.2")
    assert pos.net_pnl(Decimal(1)) == Decimal("4.8")


def test_apply_fill_is_atomic_on_error() -> None:
    pf = Portfolio("USDT", {"USDT": 1000}, [BTC])
    before = pf.snapshot()
    bad = Fill("x", "o", "paper:DOGE/USDT", "buy", Decimal(1), Decimal(1), 0, "USDT", 1)
    with pytest.raises(ValidationError) as err:
        pf.apply_fill(bad)
    assert err.value.field == "instrument_id"
    assert pf.snapshot() is before
    assert not pf.has_fill("x")


def test_duplicate_trade_id_is_applied_once() -> None:
    pf = Portfolio("USDT", {"USDT": 1000}, [BTC])
    fill = Fill("t1", "o", BTC.id, "buy", Decimal("0.5"), Decimal(100), 0, "USDT", 1)
    assert pf.apply_fill(fill) is True
    assert pf.apply_fill(fill) is False
    assert pf.position(BTC.id).quantity == Decimal("0.5")
    assert pf.snapshot().cash == Decimal(950)


def test_exposure_gross_and_net() -> None:
    pf = Portfolio("USDT", {"USDT": 1000}, [BTC, ETH])
    pf.apply_fill(Fill("1", "o", BTC.id, "buy", Decimal(2), Decimal(10), 0, "USDT", 1))
    pf.apply_fill(Fill("2", "o", ETH.id, "sell", Decimal(3), Decimal(5), 0, "USDT", 2))
    exp = pf.exposure({BTC.id: Decimal(11), ETH.id: Decimal(4)})
    assert exp.gross == Decimal(22 + 12)
    assert exp.net == Decimal(22 - 12)
    assert exp.by_instrument[ETH.id] == Decimal(-12)


def test_missing_mark_is_a_named_error() -> None:
    pf = Portfolio("USDT", {"USDT": 1000}, [BTC])
    pf.apply_fill(Fill("1", "o", BTC.id, "buy", Decimal(1), Decimal(10), 0, "USDT", 1))
    with pytest.raises(ValidationError, match="no mark price"):
        pf.equity({})


def test_fee_in_other_currency_needs_fx_for_equity() -> None:
    pf = Portfolio("USDT", {"USDT": 1000, "BNB": 1}, [BTC])
    pf.apply_fill(Fill("1", "o", BTC.id, "buy", Decimal(1), Decimal(10), Decimal("0.01"), "BNB", 1))
    snap = pf.snapshot()
    assert snap.balances["BNB"] == Decimal("0.99")
    with pytest.raises(ValidationError, match="BNB"):
        snap.equity({BTC.id: 10})
    assert snap.equity({BTC.id: 10}, fx={"BNB": 500}) == Decimal(990) + Decimal(495) + Decimal(10)


def test_concurrent_readers_never_see_a_half_applied_fill() -> None:
    """One writer applies fills; readers check the accounting identity on every snapshot."""
    pf = Portfolio("USDT", {"USDT": INIT}, [BTC])
    price = Decimal(100)
    fills = [
        Fill(f"t{i}", "o", BTC.id, "buy" if i % 3 else "sell", Decimal("0.01"), price, 0, "USDT", i)
        for i in range(3000)
    ]
    stop = threading.Event()
    violations: list[str] = []
    seen: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            snap = pf.snapshot()
            pos = snap.position(BTC.id)
            # With every fill at one price and no fees, cash + qty × price is exactly INIT.
            if snap.cash + pos.quantity * price != INIT:
                violations.append(f"seq {snap.seq}: cash {snap.cash} qty {pos.quantity}")
            seen.append(snap.seq)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    for fill in fills:
        pf.apply_fill(fill)
    stop.set()
    for t in readers:
        t.join()
    assert not violations
    assert pf.snapshot().seq == 3000
    assert len(set(seen)) > 1  # readers really observed the writer's progress
