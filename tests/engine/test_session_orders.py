"""A paper session placing its order policy's limit and post-only orders, over the bundled
real BTCUSDT capture streamed by the websocket replay server (real sockets on loopback), on
the durable paper venue; and a crash with an order resting at the venue."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from decimal import Decimal

import pytest
from support.toy_strategies import SmaLike

from nzeza.domain import Costs
from nzeza.engine.feed import replay_feed
from nzeza.engine.runner import session_instrument
from nzeza.engine.session import Session, SessionConfig
from nzeza.engine.sources import capture_trades
from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
from nzeza.feeds.replay import ReplayServer
from nzeza.research.orders import OrderPolicy
from nzeza.store import Ledger
from nzeza.venues.paper.durable import DurablePaperVenue

COSTS = Costs(maker=0.0002, taker=0.001, slippage=0.0005)
TF = 5_000_000_000
PATHS = [bundled(n) for n in BINANCE_BTCUSDT]


def make(tmp, sid: str, policy: OrderPolicy):
    inst = session_instrument("BTCUSDT")
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
    venue = DurablePaperVenue(tmp / "venue.sqlite", [inst], COSTS)
    cfg = SessionConfig(
        sid, SmaLike(short=True), "smalike", {}, inst, COSTS, Decimal(10_000), TF, orders=policy
    )
    return Session(cfg, ledger, venue), ledger, venue


def trades() -> list[tuple[int, Decimal]]:
    async def collect():
        return [(t.ts_ns, t.price) async for t in capture_trades(PATHS, "BTCUSDT")]

    return asyncio.run(collect())


def run_ws(tmp, sid: str, policy: OrderPolicy):
    async def main():
        async with ReplayServer(PATHS, speed=None) as server:
            session, ledger, venue = make(tmp, sid, policy)
            report = await session.run(replay_feed(server.url, "BTCUSDT"))
            await venue.close()
            return report, ledger

    return asyncio.run(main())


def test_a_limit_session_fills_only_at_or_better_than_its_limits_with_maker_fees(
    tmp_path,
) -> None:
    report, ledger = run_ws(tmp_path, "lim", OrderPolicy("limit", 0.0002, 3))
    intents = {i["client_order_id"]: i for i in ledger.intents("lim")}
    fills = ledger.fills("lim")
    orders = ledger.orders("lim")
    ledger.close()
    assert report.fills == len(fills) >= 3
    assert {i["order_type"] for i in intents.values()} == {"limit"}
    assert {r["order_type"] for r in orders} == {"limit"}  # the ledger records the type
    tape = trades()
    makers = 0
    for f in fills:
        limit = Decimal(intents[f.order_id]["price"])
        buy = f.side.value == "buy"
        assert f.price <= limit if buy else f.price >= limit  # never worse than the limit
        if f.price == limit:  # a resting fill: a trade went through the limit, maker fee
            assert any(ts == f.ts and (px < limit if buy else px > limit) for ts, px in tape), (
                f"no trade through {limit} at {f.ts}"
            )
            assert f.fee == f.price * f.quantity * Decimal("0.0002")
            makers += 1
        else:  # it crossed on arrival: a taker at the open, slipped, capped at the limit
            assert f.fee == f.price * f.quantity * Decimal("0.001")
    assert makers >= 1
    # partial fills: a resting order filled by several trades, each up to its size
    per_order = Counter(f.order_id for f in fills)
    assert max(per_order.values()) > 1
    for cid in per_order:
        got = sum((f.quantity for f in fills if f.order_id == cid), Decimal(0))
        assert got <= Decimal(intents[cid]["quantity"])
    # orders the market never reached ended by their ttl or the next decision
    ended = {r["status"] for r in orders}
    assert "expired" in ended or "canceled" in ended
    with sqlite3.connect(tmp_path / "venue.sqlite") as db:
        kinds = {r[0] for r in db.execute("SELECT type FROM orders")}
        open_left = db.execute(
            "SELECT COUNT(*) FROM orders WHERE status IN ('accepted', 'partially_filled')"
        ).fetchone()[0]
    assert kinds == {"limit"} and open_left == 0  # cancelled at the end of the feed


def test_a_crossing_post_only_order_is_journaled_as_rejected(tmp_path) -> None:
    report, ledger = run_ws(tmp_path, "po", OrderPolicy("post_only", 0.0, 2))
    intents = ledger.intents("po")
    rejected = [i for i in intents if i["status"] == "rejected"]
    filled = {f.order_id for f in ledger.fills("po")}
    ledger.close()
    assert report.venue_rejected == len(rejected) >= 1
    assert not filled & {i["client_order_id"] for i in rejected}  # nothing traded
    with sqlite3.connect(tmp_path / "venue.sqlite") as db:
        status = dict(db.execute("SELECT client_order_id, status FROM orders"))
    assert all(status[i["client_order_id"]] == "rejected" for i in rejected)


def test_a_stop_session_takes_at_or_beyond_its_triggers_with_taker_fees(tmp_path) -> None:
    report, ledger = run_ws(tmp_path, "stp", OrderPolicy("stop", 0.0001, 2))
    intents = {i["client_order_id"]: i for i in ledger.intents("stp")}
    fills = ledger.fills("stp")
    ledger.close()
    assert report.fills == len(fills) >= 1
    assert {i["order_type"] for i in intents.values()} == {"stop"}
    for f in fills:
        trigger = Decimal(intents[f.order_id]["price"])
        buy = f.side.value == "buy"
        assert f.price >= trigger if buy else f.price <= trigger  # a stop never fills better
        assert f.fee == f.price * f.quantity * Decimal("0.001")  # always a taker


def test_a_resting_order_survives_a_crash_and_is_never_sent_twice(tmp_path) -> None:
    policy = OrderPolicy("limit", 0.0003, 6)

    async def crash_while_resting(session):
        async for trade in capture_trades(PATHS, "BTCUSDT"):
            if session.working_orders and session.report.bars > 40:
                raise RuntimeError("the process died")  # no stop: orders stay at the venue
            yield trade

    async def first():
        session, ledger, venue = make(tmp_path, "crash", policy)
        with contextlib.suppress(RuntimeError):
            await session.run(crash_while_resting(session))
        resting = set(session.working_orders)
        await venue.close()
        ledger.close()
        return resting

    resting = asyncio.run(first())
    assert resting  # an order was resting at the venue when it died

    async def second():
        session, ledger, venue = make(tmp_path, "crash", policy)
        start = session.resume_from_ns()
        await session.reconcile()
        recovered = set(session.working_orders)
        session.report.reconciled_fills = 0
        report = await session.run(capture_trades(PATHS, "BTCUSDT", from_ns=start))
        dup = venue.duplicate_submits
        await venue.close()
        return recovered, report, ledger, dup

    recovered, _report, ledger, dup = asyncio.run(second())
    fills = ledger.fills("crash")
    intents = ledger.intents("crash")
    ledger.close()
    assert resting <= recovered  # found at the venue by client id
    assert dup == 0  # never sent again
    assert len({f.trade_id for f in fills}) == len(fills)
    with sqlite3.connect(tmp_path / "venue.sqlite") as db:
        venue_ids = [r[0] for r in db.execute("SELECT client_order_id FROM orders")]
        venue_trades = db.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
    assert sorted(venue_ids) == sorted(
        i["client_order_id"] for i in intents if i["status"] != "journaled"
    )
    assert venue_trades == len(fills)  # every venue trade booked once

    # the same run uninterrupted books the same fills
    (tmp_path / "ref").mkdir()
    _ref_report, ref_ledger = run_ws(tmp_path / "ref", "crash", policy)
    ref = [(f.side, f.quantity, f.price, f.fee) for f in ref_ledger.fills("crash")]
    ref_ledger.close()
    assert [(f.side, f.quantity, f.price, f.fee) for f in fills] == ref


def test_a_session_refuses_to_resume_with_another_order_policy(tmp_path) -> None:
    from nzeza.errors import ValidationError

    session, ledger, venue = make(tmp_path, "res", OrderPolicy("limit", 0.001, 2))
    session.close()
    asyncio.run(venue.close())
    ledger.close()
    with pytest.raises(ValidationError) as err:
        make(tmp_path, "res", OrderPolicy("post_only", 0.001, 2))
    assert err.value.field == "session_id" and "orders.kind limit → post_only" in str(err.value)


def _paper(tmp, sid: str, crash_at: str | None = None) -> int:
    """`nzeza paper` with a limit policy over the bundled capture, in a subprocess (killed
    like kill -9 at `crash_at`)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(root / "tests"), str(root)])
    if crash_at:
        env["NZEZA_CRASH_AT"] = crash_at
    cmd = [
        sys.executable, "-m", "nzeza.cli", "paper", "--strategy",
        "support.toy_strategies:SmaLike", "--params", "short=true", "--timeframe", "5s",
        "--order-type", "limit", "--offset", "0.0002", "--ttl", "3", "--maker-fee", "0.0002",
        "--taker-fee", "0.001", "--session-id", sid, "--ledger",
        f"sqlite:///{tmp / 'ledger.sqlite'}", "--venue-db", str(tmp / "venue.sqlite"),
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 137), out.stderr[-2000:]
    return out.returncode


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list:
    ref_dir = tmp_path_factory.mktemp("ref")
    assert _paper(ref_dir, "ref") == 0
    with Ledger(f"sqlite:///{ref_dir / 'ledger.sqlite'}") as led:
        return [(f.side, f.quantity, f.price, f.fee) for f in led.fills("ref")]


@pytest.mark.parametrize("crash_at", ["after_journal:3", "after_submit:3", "after_fill:4"])
def test_killed_at_a_crash_point_with_limit_orders_it_resumes_without_a_duplicate(
    tmp_path, crash_at, uninterrupted
) -> None:
    ref = uninterrupted
    assert len(ref) >= 5
    assert _paper(tmp_path, "k", crash_at) == 137  # died there
    assert _paper(tmp_path, "k") == 0  # restarted with the same id, to the end of the feed
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        fills = led.fills("k")
        intents = led.intents("k")
    with sqlite3.connect(tmp_path / "venue.sqlite") as db:
        venue_orders = [r[0] for r in db.execute("SELECT client_order_id FROM orders")]
        venue_trades = db.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        dup = db.execute("SELECT value FROM counters WHERE name='duplicate_submits'").fetchone()
    assert len(venue_orders) == len(set(venue_orders))  # no order sent twice
    assert set(venue_orders) <= {i["client_order_id"] for i in intents}
    assert venue_trades == len(fills) and len({f.trade_id for f in fills}) == len(fills)
    assert [(f.side, f.quantity, f.price, f.fee) for f in fills] == ref
    assert dup is None  # nothing was sent again
