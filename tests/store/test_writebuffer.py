"""Group commit (`Ledger.batch()`): held writes land exactly as direct writes would, on both
backends; reads inside a batch see them; a duplicate rolls the whole block back."""

from __future__ import annotations

import contextlib
import random
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from nzeza.domain import Fill, Instrument, Order, OrderFilled, OrderSubmitted, Portfolio
from nzeza.errors import DataError
from nzeza.store import Ledger
from nzeza.store import schema as s

BTC = Instrument("paper", "BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.0001"))
VOLATILE = {"id", "ts", "created_ns", "updated_ns", "started_ns", "seq", "prev_hash", "hash"}


def start(ledger: Ledger, sid: str) -> None:
    ledger.start_session(
        sid,
        mode="replay",
        strategy="sma_cross",
        params={"fast": 10},
        venue="paper",
        currency="USDT",
        initial_balances={"USDT": Decimal(10000)},
    )


def script(ledger: Ledger, sid: str, seed: int, block: int | None = None) -> Portfolio:
    """A random but reproducible run: intents, orders (some filled in the same block, some
    left open and filled later), fills, equity, resume points, a risk event (a direct write
    in the middle of held ones) and reads inside the block. With `block`, the writes are
    grouped into `ledger.batch()` blocks of that many operations."""
    rng = random.Random(seed)
    pf = Portfolio("USDT", {"USDT": 10000}, [BTC])
    open_orders: list[Order] = []
    blocks = contextlib.ExitStack()
    for i in range(1, 61):
        if block is not None and (i - 1) % block == 0:
            blocks.close()
            blocks.enter_context(ledger.batch())
        op = rng.random()
        if op < 0.45:
            cid = f"{sid}-c{i}"
            qty = Decimal(rng.randint(1, 50)) / 1000
            assert ledger.journal_intent(sid, i, cid, BTC.id, "buy", qty, "market", None, i)
            order = Order(cid, BTC, "buy", qty)
            order.apply(OrderSubmitted(i))
            ledger.record_order(sid, order, "submit")
            open_orders.append(order)
        elif op < 0.75 and open_orders:
            order = open_orders.pop(rng.randrange(len(open_orders)))
            price = Decimal(rng.randint(90, 110))
            f = Fill(f"{sid}-t{i}", order.client_order_id, BTC.id, "buy", order.quantity, price,
                     Decimal("0.01"), "USDT", i)  # fmt: skip
            order.apply(OrderFilled(f))
            assert pf.apply_fill(f, persist=ledger.fill_writer(sid, "paper", f, order))
            assert ledger.has_fill("paper", f.trade_id)  # a read sees the held write
        elif op < 0.9:
            snap = pf.snapshot()
            ledger.record_equity(sid, i, snap.cash, snap.cash, Decimal(0), Decimal(0))
            ledger.mark_bar(sid, i)
        else:
            ledger.record_risk_event(sid, "max_position", "1", str(i), detail=f"bar {i}")
    blocks.close()
    return pf


def rows(ledger: Ledger, sid: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the session, without ids, clocks and chain hashes; the session id and its
    prefix on client order and trade ids replaced, so two sessions compare equal."""
    out: dict[str, list[dict[str, Any]]] = {}
    with ledger.engine.connect() as conn:
        for table in (s.intents, s.orders, s.order_events, s.fills, s.positions, s.balances,
                      s.equity_snapshots, s.risk_events, s.audit_log):  # fmt: skip
            q = select(table).where(table.c.session_id == sid)
            order_by = [c for c in ("seq", "id") if c in table.c]
            key = table.c[order_by[0]] if order_by else None
            result = conn.execute(q.order_by(key) if key is not None else q)
            found = []
            for r in result:
                row = {
                    k: (v.replace(sid, "SID") if isinstance(v, str) else v)
                    for k, v in r._mapping.items()
                    if k not in VOLATILE
                }
                found.append(row)
            if key is None:
                found.sort(key=repr)
            out[table.name] = found
    return out


@pytest.mark.parametrize("block", [1, 7, 1000])
def test_batched_writes_equal_direct_writes(ledger: Ledger, block: int) -> None:
    start(ledger, "direct")
    start(ledger, "batched")
    direct = script(ledger, "direct", seed=block)
    batched = script(ledger, "batched", seed=block, block=block)

    assert batched.snapshot().balances == direct.snapshot().balances
    assert rows(ledger, "batched") == rows(ledger, "direct")
    assert ledger.verify_audit().ok
    assert ledger.session("batched")["last_bar_ts"] == ledger.session("direct")["last_bar_ts"]


def test_a_duplicate_fill_rolls_the_whole_block_back(ledger: Ledger) -> None:
    start(ledger, "s1")
    pf = Portfolio("USDT", {"USDT": 10000}, [BTC])
    first = Fill("t1", "c1", BTC.id, "buy", Decimal("0.1"), Decimal(100), Decimal(0), "USDT", 1)
    assert pf.apply_fill(first, persist=ledger.fill_writer("s1", "paper", first))
    audit_rows = len(ledger.audit_rows())

    other = Portfolio("USDT", {"USDT": 10000}, [BTC])  # a process that forgot t1
    fresh = Fill("t2", "c2", BTC.id, "buy", Decimal("0.2"), Decimal(100), Decimal(0), "USDT", 2)
    with pytest.raises(DataError, match="already in the ledger"), ledger.batch():
        ledger.journal_intent("s1", 5, "c5", BTC.id, "buy", Decimal(1), "market", None, 5)
        other.apply_fill(fresh, persist=ledger.fill_writer("s1", "paper", fresh))
        other.apply_fill(first, persist=ledger.fill_writer("s1", "paper", first))
    # nothing of the block is in the ledger; the chain is intact
    assert [f.trade_id for f in ledger.fills("s1")] == ["t1"]
    assert ledger.intents("s1") == []
    assert len(ledger.audit_rows()) == audit_rows
    assert ledger.verify_audit().ok


def test_a_duplicate_inside_one_block_is_refused_at_once(ledger: Ledger) -> None:
    start(ledger, "s1")
    pf = Portfolio("USDT", {"USDT": 10000}, [BTC])
    f = Fill("t1", "c1", BTC.id, "buy", Decimal("0.1"), Decimal(100), Decimal(0), "USDT", 1)
    with ledger.batch():
        assert ledger.journal_intent("s1", 1, "c1", BTC.id, "buy", Decimal(1), "market", None, 1)
        assert not ledger.journal_intent(
            "s1", 1, "c1", BTC.id, "buy", Decimal(1), "market", None, 1
        )
        assert pf.apply_fill(f, persist=ledger.fill_writer("s1", "paper", f))
        pf._trade_ids.discard("t1")
        before = pf.snapshot()
        with pytest.raises(DataError, match="already in the ledger"):
            pf.apply_fill(f, persist=ledger.fill_writer("s1", "paper", f))
        assert pf.snapshot() is before
    assert len(ledger.fills("s1")) == 1
    assert len(ledger.intents("s1")) == 1


def test_an_exception_in_the_block_writes_nothing(ledger: Ledger) -> None:
    start(ledger, "s1")
    with pytest.raises(RuntimeError), ledger.batch():
        ledger.journal_intent("s1", 1, "c1", BTC.id, "buy", Decimal(1), "market", None, 1)
        ledger.mark_bar("s1", 123)
        raise RuntimeError("crash in the middle of a block")
    assert ledger.intents("s1") == []
    assert ledger.session("s1")["last_bar_ts"] is None
    assert ledger.verify_audit().ok
