"""After a timeout, look up by client id before resubmitting: exactly one order at the venue."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from nzeza.domain import Instrument
from nzeza.errors import VenueError
from nzeza.execution import SnapshotBook
from nzeza.execution.client_ids import client_order_id
from nzeza.execution.retry import RetryPolicy
from nzeza.execution.submit import submit_idempotent
from nzeza.venues import OrderRequest, PaperVenue

D = Decimal
BTC = Instrument("paper", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.001"), D("0.001"), D(5))
BOOK = SnapshotBook.from_levels([(D(100), D(5))], [(D("100.01"), D(5))])
POLICY = RetryPolicy(max_attempts=4, base_delay=0.01, jitter=0)


async def _nosleep(_s: float) -> None:
    pass


def venue() -> PaperVenue:
    v = PaperVenue.book_mode([BTC], balances={"USDT": 10_000})
    v.set_book(BTC.id, BOOK)
    return v


def req(seq: int = 1) -> OrderRequest:
    return OrderRequest(client_order_id("sess", seq), BTC.id, "buy", D(1), "limit", D(99))


@pytest.mark.parametrize("fault", ["timeout_after_accept", "timeout_before_accept"])
def test_timeout_then_retry_creates_exactly_one_order(fault):
    v = venue()
    v.inject_fault(fault)
    order = asyncio.run(submit_idempotent(v, req(), POLICY, sleep=_nosleep))
    assert v.submissions == 1 and len(v.orders) == 1
    assert order.client_order_id == req().client_order_id and order.status.is_open


def test_naive_retry_would_have_duplicated():
    # The control: retrying blindly after a lost response sends a second order (the paper
    # venue refuses it by client id here; a venue without that check would take it).
    v = venue()
    v.inject_fault("timeout_after_accept")
    with pytest.raises(VenueError):
        asyncio.run(v.submit(req()))
    with pytest.raises(VenueError) as err:
        asyncio.run(v.submit(req()))
    assert err.value.code == "duplicate"


def test_rejects_are_not_retried():
    v = venue()
    bad = OrderRequest(client_order_id("sess", 2), BTC.id, "buy", D("0.0001"), "limit", D(99))
    with pytest.raises(VenueError) as err:
        asyncio.run(submit_idempotent(v, bad, POLICY, sleep=_nosleep))
    assert not err.value.retryable and v.submissions == 0


def test_gives_up_after_policy_when_venue_stays_down():
    v = venue()
    for _ in range(4):
        v.inject_fault("timeout_before_accept")
    with pytest.raises(VenueError) as err:
        asyncio.run(submit_idempotent(v, req(), POLICY, sleep=_nosleep))
    assert err.value.retryable and v.submissions == 0
