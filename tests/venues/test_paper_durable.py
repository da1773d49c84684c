"""The durable paper venue never stores a trade that is not a valid fill, and repairs a file
that an older version left holding one (quarantined, its order rejected, nothing else touched).

Before: a recorded price of 0 or 1E-999999999 reached the venue, whose fill price became
0E-1000026 in Decimal arithmetic; the trade was stored, the session died reading it back, and
every later session on the same file died in reconciliation with `invalid price ... must be
positive`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal

import pytest

from nzeza.domain import Costs, Instrument, OrderStatus
from nzeza.errors import VenueError
from nzeza.venues import OrderRequest
from nzeza.venues.paper.durable import DurablePaperVenue

D = Decimal
INST = Instrument("paper", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.00001"))
COSTS = Costs(0.001, 0.0005)


def run(coro):
    return asyncio.run(coro)


def buy(cid: str, qty: str = "0.1") -> OrderRequest:
    return OrderRequest(cid, INST.id, "buy", D(qty))


@pytest.mark.parametrize("bad", ["0", "-1", "NaN", "Infinity", "1E-999999999", "1E+999999999"])
def test_an_invalid_feed_price_is_never_a_fill_price(tmp_path, bad):
    venue = DurablePaperVenue(tmp_path / "v.db", [INST], COSTS)
    try:
        venue.on_trade(INST.id, D(bad), 1)
        assert venue.invalid_prices == 1 and INST.id not in venue.last_price
        with pytest.raises(VenueError) as err:  # no valid price yet: nothing to fill at
            run(venue.submit(buy("c1")))
        assert err.value.code == "no_price"
        venue.on_trade(INST.id, D("60000"), 2)
        venue.on_trade(INST.id, D(bad), 3)  # ignored: the last valid price stays
        order = run(venue.submit(buy("c2")))
        assert order.status is OrderStatus.FILLED and order.avg_price == D("60030.0000")
        assert [f.price for f in run(venue.my_trades(INST.id))] == [D("60030.0000")]
    finally:
        run(venue.close())


def test_an_order_that_would_fill_at_an_invalid_price_is_refused_and_nothing_is_stored(tmp_path):
    venue = DurablePaperVenue(tmp_path / "v.db", [INST], COSTS)
    try:
        # a price that got past `on_trade` (set directly, as a caller of an older API could):
        # 1E-999999999 × (1 + slippage) is 0 in Decimal arithmetic
        venue.last_price[INST.id] = (D("1E-999999999"), 5)
        with pytest.raises(VenueError) as err:
            run(venue.submit(buy("c1")))
        assert err.value.code == "invalid_price" and not err.value.retryable
        assert "price" in str(err.value)
        assert venue.order_count() == 0 and run(venue.my_trades(INST.id)) == []
        assert run(venue.fetch_order(INST.id, client_order_id="c1")) is None
    finally:
        run(venue.close())


def _write_as_an_older_version(path, cid: str, price: str) -> None:
    """The rows an older nzeza wrote for a market order filled at `price` (no validation)."""
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO orders (client_order_id, venue_order_id, instrument_id, side, quantity, "
            "status, filled_qty, avg_price, ts) VALUES (?,?,?,?,?,?,?,?,?)",  # its columns
            (cid, "D99", INST.id, "sell", "0.1", "filled", "0.1", price, 7),
        )
        db.execute(
            "INSERT INTO trades VALUES (?,?,?,?,?,?,?,?,?)",
            ("D99-1", cid, INST.id, "sell", "0.1", price, "0", "USDT", 7),
        )


@pytest.mark.parametrize("stored", ["0E-1000026", "0", "-5", "NaN", "1E-999999999"])
def test_a_file_holding_an_invalid_trade_is_repaired_on_open(tmp_path, stored):
    path = tmp_path / "v.db"
    venue = DurablePaperVenue(path, [INST], COSTS)
    venue.on_trade(INST.id, D("60000"), 1)
    good = run(venue.submit(buy("good")))
    run(venue.close())
    _write_as_an_older_version(path, "bad", stored)

    reopened = DurablePaperVenue(path, [INST], COSTS)
    try:
        assert reopened.quarantined == 1
        # what reconciliation reads now works, and holds exactly the valid trade
        fills = run(reopened.my_trades(INST.id))
        assert [f.order_id for f in fills] == ["good"] and fills[0].price == good.avg_price
        bad = run(reopened.fetch_order(INST.id, client_order_id="bad"))
        assert bad.status is OrderStatus.REJECTED and bad.filled_qty == 0
        assert run(reopened.order_fills(INST.id, "bad")) == []
        with sqlite3.connect(path) as db:
            [(tid, price, reason)] = db.execute(
                "SELECT trade_id, price, reason FROM quarantined_trades"
            ).fetchall()
        assert (tid, price) == ("D99-1", stored) and "price" in reason
    finally:
        run(reopened.close())
    again = DurablePaperVenue(path, [INST], COSTS)  # nothing left to repair
    assert again.quarantined == 0
    run(again.close())


def _submit_many(path: str, prefix: str, n: int, start) -> int:  # in a child process
    venue = DurablePaperVenue(path, [INST], COSTS)
    try:
        venue.on_trade(INST.id, D("60000"), 1)
        start.wait()
        for i in range(n):
            run(venue.submit(buy(f"{prefix}{i}", "0.001")))
        return n
    finally:
        run(venue.close())


def test_two_sessions_sharing_the_venue_never_draw_the_same_order_id(tmp_path):
    """Two processes submitting at once to one venue file: every order is filled once, under
    its own venue order id (the id was drawn before the write lock, and two sessions on one
    paper venue died on `UNIQUE constraint failed: trades.trade_id`)."""
    import multiprocessing as mp

    path, n = str(tmp_path / "v.db"), 1000
    run(DurablePaperVenue(path, [INST], COSTS).close())  # the file exists before both open it
    ctx = mp.get_context("spawn")
    start = ctx.Manager().Event()
    with ctx.Pool(2) as pool:
        jobs = [pool.apply_async(_submit_many, (path, p, n, start)) for p in ("a", "b")]
        start.set()
        assert [job.get(timeout=300) for job in jobs] == [n, n]
    with sqlite3.connect(path) as db:
        ids = [r[0] for r in db.execute("SELECT trade_id FROM trades")]
    assert len(ids) == len(set(ids)) == 2 * n
