"""A paper session of a perpetual: funding events from its source booked in the ledger as a
replay books them, once per funding time across a crash and restart."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pandas as pd
import pytest
from support.perp_cases import HOUR, START, Scripted, bars_of

from nzeza.domain import Costs, Perpetual
from nzeza.engine import replay
from nzeza.engine.perp import FundingEvent
from nzeza.engine.session import Session, SessionConfig
from nzeza.errors import ValidationError
from nzeza.feeds.events import Trade
from nzeza.store import Ledger
from nzeza.venues.paper.durable import DurablePaperVenue

D = Decimal
NO_COSTS = Costs(0.0, 0.0)
TF = 3_600_000_000_000
T0 = START.value
PERP = Perpetual(
    "binance", "BTCUSDT", "BTC", "USDT", D("0.01"), D("0.001"), funding_interval_hours=1
)
FUNDING = FundingEvent(T0 + 2 * TF, D("0.0001"), D(50_000))  # +0.01 % at mark 50,000


def stream() -> list[object]:
    """Two trades a bar at 50,000 over 5 hourly bars, and a funding time at bar 2's start."""
    items: list[object] = []
    for bar in range(5):
        if bar == 2:
            items.append(FUNDING)
        for k, offset in enumerate((1, 1800)):
            ts = T0 + bar * TF + offset * 1_000_000_000
            items.append(Trade("binance", "BTCUSDT", D(50_000), D(1), "buy", f"{bar}-{k}", ts))
    return items


async def feed(items: list[object], start_ns: int | None = None, crash_after: int | None = None):
    for n, item in enumerate(items):
        ts = item.ts if isinstance(item, FundingEvent) else item.ts_ns
        if start_ns is not None and ts < start_ns:
            continue
        yield item
        if crash_after is not None and n >= crash_after:
            raise ConnectionError("the process died here")


def make(tmp, sid: str = "pf") -> tuple[Session, Ledger]:
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
    venue = DurablePaperVenue(tmp / "venue.sqlite", [PERP], NO_COSTS)
    cfg = SessionConfig(
        sid, Scripted([1.0] * 10), "scripted", {}, PERP, NO_COSTS, D(100_000), TF, risk=None
    )
    return Session(cfg, ledger, venue), ledger


def test_funding_through_a_paper_session_is_booked_like_replay(tmp_path) -> None:
    session, ledger = make(tmp_path)
    report = asyncio.run(session.run(feed(stream())))
    assert report.fills == 1 and report.funding_payments == 1
    [entry] = ledger.funding_entries("pf")
    assert entry["amount"] == D(-10)  # long 2 BTC at 50,000, +0.01 %: pays exactly 10
    assert entry["position"] == D(2) and entry["ts"] == FUNDING.ts
    assert ledger.balances("pf")["USDT"] == D(-10)
    assert report.final_equity == D(99_990)
    # the paper account is credited exactly what the session booked (no reconciliation gap)
    [paid] = asyncio.run(session.venue.funding_payments(PERP.id))
    assert (paid.ts, paid.amount, paid.rate, paid.position) == (
        FUNDING.ts,
        D(-10),
        D("0.0001"),
        D(2),
    )
    # the replay of the same bars with the same funding books the same amount
    bars = bars_of([(50_000.0,) * 4] * 4)
    rates = pd.Series([0.0001], index=[START + 2 * HOUR], name="funding_rate")
    rep = replay(Scripted([1.0] * 10), bars, NO_COSTS, 100_000, perp=PERP, funding=rates)
    assert rep.funding["amount"].tolist() == [entry["amount"]]
    assert rep.final_equity == float(report.final_equity)
    assert ledger.verify_audit().ok
    ledger.close()


def test_a_restart_does_not_book_a_funding_time_twice(tmp_path) -> None:
    items = stream()
    crash_after = items.index(FUNDING) + 2  # bar 1 closed and marked after the funding
    session, ledger = make(tmp_path)
    with pytest.raises(ConnectionError):
        asyncio.run(session.run(feed(items, crash_after=crash_after)))
    assert len(ledger.funding_entries("pf")) == 1
    ledger.close()
    again, ledger = make(tmp_path)
    assert again.report.resumed
    start = again.resume_from_ns()
    assert start is not None and start <= FUNDING.ts  # the funding event is read again
    report = asyncio.run(again.run(feed(items, start_ns=start)))
    assert report.funding_payments == 0
    [entry] = ledger.funding_entries("pf")
    assert entry["amount"] == D(-10)
    assert ledger.balances("pf")["USDT"] == D(-10)
    assert report.final_equity == D(99_990)
    assert ledger.verify_audit().ok
    ledger.close()


def test_leverage_needs_a_perpetual_and_its_limits(tmp_path) -> None:
    from nzeza.engine.runner import session_instrument

    with pytest.raises(ValidationError, match="leverage"):
        SessionConfig("s", Scripted([1.0]), "s", {}, session_instrument("BTCUSDT"), NO_COSTS,
                      D(1), TF, leverage=D(2))  # fmt: skip
    with pytest.raises(ValidationError, match="maximum leverage"):
        SessionConfig("s", Scripted([1.0]), "s", {}, PERP, NO_COSTS, D(1), TF, leverage=D(50))


class Update:
    """The shape of a venue's live funding update (`nzeza.feeds.FundingUpdate`'s fields)."""

    def __init__(self, rate, mark, ts_ns, next_funding_ns=None) -> None:
        self.venue, self.symbol = "binance", "BTCUSDT"
        self.funding_rate, self.mark = D(rate), None if mark is None else D(mark)
        self.ts_ns, self.recv_ns, self.next_funding_ns = ts_ns, ts_ns, next_funding_ns


def test_the_funding_clock_books_the_last_rate_before_each_funding_time() -> None:
    from nzeza.engine.perp import FundingClock

    hourly = FundingClock(TF)
    assert hourly.on_update(Update("0.0002", "49000", T0 + 10)) == []
    assert hourly.on_update(Update("0.0001", "50000", T0 + TF - 1)) == []
    # the first update at or after the hour books the hour with what was seen before it
    assert hourly.on_update(Update("0.0005", None, T0 + TF + 3)) == [
        FundingEvent(T0 + TF, D("0.0001"), D(50_000))
    ]
    # a silence of three hours: the next hour only, never a stale rate for later ones
    assert hourly.on_update(Update("0.0003", "51000", T0 + 4 * TF + 1)) == [
        FundingEvent(T0 + 2 * TF, D("0.0005"), D(50_000))
    ]
    # Binance says when the next funding time is (8 h), and stamps it a few ms late
    eight = FundingClock(8 * TF)
    eight.on_update(Update("0.0001", "50000", T0 + 7 * TF, next_funding_ns=T0 + 8 * TF))
    assert eight.on_update(Update("0.0002", "50100", T0 + 8 * TF + 5_000_000)) == [
        FundingEvent(T0 + 8 * TF, D("0.0001"), D(50_000))
    ]


def test_a_session_books_funding_from_live_updates(tmp_path) -> None:
    items = [x for x in stream() if not isinstance(x, FundingEvent)]
    # the venue's updates: +0.01 % at 50,000 before bar 2's start, then the next rate after
    at = next(n for n, x in enumerate(items) if x.ts_ns > T0 + 2 * TF)
    items.insert(at, Update("0.0003", "50000", T0 + 2 * TF + 1))
    items.insert(at, Update("0.0001", "50000", T0 + 2 * TF - 1))
    session, ledger = make(tmp_path, "live-funding")
    report = asyncio.run(session.run(feed_updates(items)))
    assert report.funding_payments == 1
    [entry] = ledger.funding_entries("live-funding")
    assert entry["ts"] == T0 + 2 * TF and entry["amount"] == D(-10)
    ledger.close()


async def feed_updates(items):
    for item in items:
        yield item


def test_a_paper_session_liquidates_a_10x_long_where_replay_does(tmp_path) -> None:
    """The liquidation case of the replay tests as trades: bought at 10,000 at 10×, a trade
    at 9,040 reaches the liquidation price (9,048.8...): the session closes the position with a
    market order marked in the ledger (filled at that trade, where replay fills at the
    liquidation price itself), and stays flat while the target is unchanged."""
    from support.perp_cases import LIQ_BARS

    prices = [
        [10_000, 10_000],
        [10_000, 9_950, 9_960],
        [9_960, 9_100, 9_200],
        [9_200, 9_040, 9_100],
        [9_100, 9_250],
        [9_250, 9_300],
    ]
    items = [
        Trade(
            "binance", "BTCUSDT", D(p), D(1), "buy", f"{bar}-{k}", T0 + bar * TF + (k + 1) * 10**9
        )
        for bar, row in enumerate(prices)
        for k, p in enumerate(row)
    ]
    costs = Costs(0.0004, 0.0)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    venue = DurablePaperVenue(tmp_path / "venue.sqlite", [PERP], costs)
    cfg = SessionConfig(
        "liq", Scripted([1.0] * 10), "scripted", {}, PERP, costs, D(1_000), TF, risk=None,
        leverage=D(10),
    )  # fmt: skip
    report = asyncio.run(Session(cfg, ledger, venue).run(feed_updates(items)))
    assert report.liquidations == 1
    [mark] = ledger.liquidations("liq")
    buy, close = ledger.fills("liq")
    assert close.order_id == mark["client_order_id"] and close.side.value == "sell"
    assert close.quantity == buy.quantity and close.price == D(9_040)
    # the mark's price is the domain's liquidation price of the position held
    collateral = D(1_000) - buy.fee  # cash + q × entry, with cash = 1,000 − q × entry − fee
    expected = PERP.liquidation_price(buy.quantity, buy.price, collateral)
    assert D(mark["price"]) == expected and D(9_040) < expected < D(9_100)
    assert ledger.positions("liq")[PERP.id]["quantity"] == 0
    assert ledger.verify_audit().ok
    ledger.close()
    # replay of the same bars liquidates in the same bar, at the liquidation price itself
    rep = replay(Scripted([1.0] * 10), LIQ_BARS, costs, 1_000, perp=PERP, leverage=10)
    assert rep.trades["exit_reason"].tolist() == ["liquidation"]
    assert rep.trades["exit_time"].iloc[0] == pd.Timestamp(T0 + 3 * TF, tz="UTC")
