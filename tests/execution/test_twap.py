"""TWAP scheduler driven by an injected clock: schedule, caps, partial fills, cancel/replace."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.domain import Instrument
from nzeza.domain.intent import OrderIntent
from nzeza.errors import ConfigError
from nzeza.execution.twap import CancelChild, PlaceChild, TwapConfig, TwapScheduler

D = Decimal
BTC = Instrument("paper", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.001"), D("0.001"), D(5))
S = 1_000_000_000


def sched(qty="1", **cfg) -> TwapScheduler:
    base = dict(horizon_s=100, slices=10, jitter=0.2, seed=7)
    base.update(cfg)
    return TwapScheduler(
        OrderIntent(BTC.id, "buy", D(qty), seq=5), BTC, TwapConfig(**base), 0, D(60000), "sess"
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=0.5))
def test_schedule_is_bounded_and_ordered(seed, jitter):
    s = sched(seed=seed, jitter=jitter)
    step = 10 * S
    for k, t in enumerate(s.times):
        assert abs(t - k * step) <= jitter * step + 1
    assert s.times == sorted(s.times) and s.times[0] == 0


def test_fills_everything_when_children_fill():
    s = sched()
    for t in range(0, 101):
        for cmd in s.on_time(t * S, price=D(60000)):
            if isinstance(cmd, PlaceChild):
                s.on_fill(cmd.client_order_id, cmd.intent.quantity, D(60010))
    assert s.filled == D(1) and s.done
    r = s.report()
    assert r.children == 10 and r.avg_price == D(60010)
    assert r.shortfall_bps == D(10) / D(60000) * 10_000
    assert r.execution_cost == D(10)


def test_partial_fills_cancel_replace_and_catch_up():
    s = sched(qty="1", child_type="limit")
    [place] = s.on_time(0, price=D(60000))
    assert place.intent.type.value == "limit" and place.intent.quantity == D("0.1")
    s.on_fill(place.client_order_id, D("0.04"), D(60000))  # partial
    cmds = s.on_time(s.times[1], price=D(60100))
    assert cmds[0] == CancelChild(place.client_order_id)
    s.on_done(place.client_order_id)
    # Target 0.2 after slice 1, filled 0.04 → the replacement asks for 0.16.
    assert isinstance(cmds[1], PlaceChild) and cmds[1].intent.quantity == D("0.16")
    assert cmds[1].intent.price == D(60100)
    assert cmds[1].client_order_id != place.client_order_id


def test_participation_and_notional_caps():
    s = sched(qty="10", max_participation=D("0.1"))
    [p] = s.on_time(0, price=D(60000), market_volume=D(3))
    assert p.intent.quantity == D("0.3")  # 10 % of 3, below the 1.0 target
    s2 = sched(qty="10", max_child_notional=D(6000))
    [p2] = s2.on_time(0, price=D(60000))
    assert p2.intent.quantity == D("0.1")


def test_too_small_children_carry_over():
    s = sched(qty="0.005", slices=10)  # 0.0005 per slice < lot 0.001
    assert s.on_time(0, price=D(60000)) == []
    placed = []
    for t in s.times:
        for c in s.on_time(t, price=D(60000)):
            if isinstance(c, PlaceChild):
                placed.append(c)
                s.on_fill(c.client_order_id, c.intent.quantity, D(60000))
    assert [c.intent.quantity for c in placed] == [D("0.001")] * 5
    assert s.filled == D("0.005") and s.done


def test_late_driver_catches_up_in_one_child():
    s = sched()
    cmds = s.on_time(55 * S, price=D(60000))
    assert [type(c) for c in cmds] == [PlaceChild] and cmds[0].intent.quantity >= D("0.5")


def test_opportunity_cost_of_unfilled():
    s = sched()
    s.on_time(0, price=D(60000))
    r = s.report(final_price=D(61000))
    assert r.filled == 0 and r.opportunity_cost == D(1000) and r.avg_price is None


@pytest.mark.parametrize(
    "bad", [dict(horizon_s=0), dict(slices=0), dict(jitter=0.6), dict(child_type="iceberg")]
)
def test_config_errors(bad):
    with pytest.raises(ConfigError):
        sched(**bad)


def _place(cmds):
    return [c for c in cmds if isinstance(c, PlaceChild)]


def test_a_fill_racing_the_cancel_never_overfills_the_parent():
    s = sched(qty="1", slices=2, jitter=0)
    [c0] = _place(s.on_time(0, price=D(60000)))
    assert c0.intent.quantity == D("0.5")
    cmds = s.on_time(s.times[1], price=D(60000))
    assert cmds[0] == CancelChild(c0.client_order_id)
    [c1] = _place(cmds)
    assert c1.intent.quantity == D("0.5")  # not 1.0: c0 may still fill while it is cancelled
    s.on_fill(c0.client_order_id, D("0.5"), D(60000))  # it did: the fill beat the cancel
    s.on_done(c0.client_order_id)
    s.on_fill(c1.client_order_id, D("0.5"), D(60010))
    assert s.filled == D(1) and s.done


def test_what_a_settled_cancel_held_back_is_placed_after_the_last_slice():
    s = sched(qty="1", slices=2, jitter=0)
    [c0] = _place(s.on_time(0, price=D(60000)))
    [c1] = _place(s.on_time(s.times[1], price=D(60000)))
    s.on_fill(c1.client_order_id, D("0.5"), D(60000))
    assert not s.done  # c0's cancel is not confirmed yet
    assert s.on_time(s.times[1] + S, price=D(60000)) == []  # nothing free while it may fill
    s.on_done(c0.client_order_id)  # cancelled with nothing filled
    assert not s.done
    [c2] = _place(s.on_time(s.times[1] + 2 * S, price=D(60000)))
    assert c2.intent.quantity == D("0.5")
    s.on_fill(c2.client_order_id, D("0.5"), D(60000))
    assert s.filled == D(1) and s.done and s.report().children == 3


def test_fills_reported_after_on_done_still_count():
    s = sched(qty="1", slices=1)
    [c0] = _place(s.on_time(0, price=D(60000)))
    s.on_done(c0.client_order_id)
    s.on_fill(c0.client_order_id, D("0.3"), D(60000))
    s.on_fill(c0.client_order_id, D("5"), D(60000))  # never more than the child's quantity
    assert s.filled == D(1) and s.notional == D(60000)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from(["fill", "half", "late", "cancel", "ignore"]), min_size=12),
    st.integers(min_value=1, max_value=6),
)
def test_filled_plus_working_never_exceeds_the_parent(fates, slices):
    s = sched(qty="1", slices=slices, jitter=0)
    fate = iter(fates)
    pending: list[str] = []  # children a cancel was sent for, not settled yet
    for t in [*s.times, s.times[-1] + S, s.times[-1] + 2 * S, s.times[-1] + 3 * S]:
        for cmd in s.on_time(t, price=D(60000)):
            if isinstance(cmd, CancelChild):
                pending.append(cmd.client_order_id)
                continue
            f = next(fate, "fill")
            cid, q = cmd.client_order_id, cmd.intent.quantity
            if f == "fill":
                s.on_fill(cid, q, D(60000))
            elif f == "half":
                s.on_fill(cid, s.instrument.make_qty(q / 2), D(60000))
        for cid in pending:  # settle each cancel: maybe the whole child filled first
            if next(fate, "cancel") == "late":
                s.on_fill(cid, D(1), D(60000))
            s.on_done(cid)
        pending.clear()
        assert s.filled + s.working <= D(1)
    assert s.filled <= D(1)
