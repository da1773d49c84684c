"""A live perpetual session reconciles the funding it booked with what the venue credited: a
loopback Hyperliquid (`userFunding`, its real response shape) through the real ccxt adapter.

A funding time whose message the session missed is booked from the venue's exact amount (a
`funding` row with a `funding_checks` row `source="venue"`, on the audit chain); a booked amount
the venue's differs from is a mismatch (risk event, the booked row unchanged); a restart
re-reading the same history books and reports nothing twice."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from support.perp_cases import Scripted
from support.sim.hyperliquid import HyperliquidSim

from nzeza.domain import Costs, Fill, Perpetual, Side
from nzeza.engine.fundrec import GRACE_NS, funding_time, plan
from nzeza.engine.perp import FundingEvent
from nzeza.engine.session import Session, SessionConfig
from nzeza.feeds.events import Trade
from nzeza.store import Ledger
from nzeza.venues.base import VenueFunding
from nzeza.venues.ccxt import CcxtVenue

D = Decimal
HOUR = 3_600_000_000_000
MS = 1_000_000
T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC
NO_COSTS = Costs(0.0, 0.0)
PERP = Perpetual(
    "hyperliquid", "BTC/USDC:USDC", "BTC", "USDC", D("1"), D("0.00001"), funding_interval_hours=1
)
HL_KEY = "0x" + "4c" * 32
SID = "hl-live"


def hl_wallet() -> str:
    from nzeza.venues.ccxt.keys import eth_address

    return eth_address(HL_KEY)


def make_session(tmp, url: str) -> tuple[Session, Ledger, CcxtVenue]:
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}", clock=lambda: T0)
    venue = CcxtVenue(
        "hyperliquid",
        credentials={"walletAddress": hl_wallet(), "privateKey": HL_KEY},
        api_url=url,
    )
    cfg = SessionConfig(
        SID, Scripted([1.0] * 10), "scripted", {}, PERP, NO_COSTS, D(100_000), HOUR,
        risk=None, mode="live",
    )  # fmt: skip
    return Session(cfg, ledger, venue), ledger, venue


def hold_long(session: Session, qty: str) -> None:
    fill = Fill("t1", "o1", PERP.id, Side.BUY, D(qty), D(50_000), D(0), "USDC", T0 + 60 * 10**9)
    assert session.trader.apply_fill(fill)


def test_a_missed_payment_is_booked_from_the_venue_a_mismatch_reported_and_restarts_do_not_double(
    tmp_path,
) -> None:
    sim = HyperliquidSim(hl_wallet())

    async def main() -> None:
        url = await sim.start()
        try:
            session, ledger, venue = make_session(tmp_path, url)
            hold_long(session, "2")
            # hour 1: the session booked it, the venue agrees (long 2 at 50,000, +0.01 %: -10)
            session._on_funding(FundingEvent(T0 + HOUR, D("0.0001"), D(50_000)))
            sim.pay_funding((T0 + HOUR) // MS + 57, "BTC", "-10.0", "2.0", "0.0001")
            # hour 2: the session missed the message; the venue debited 12.5 (rate 0.000125)
            sim.pay_funding((T0 + 2 * HOUR) // MS + 31, "BTC", "-12.5", "2.0", "0.000125")
            # hour 3: the session booked -10 at its mark; the venue debited 10.4 (another mark)
            session._on_funding(FundingEvent(T0 + 3 * HOUR, D("0.0001"), D(50_000)))
            sim.pay_funding((T0 + 3 * HOUR) // MS + 12, "BTC", "-10.4", "2.0", "0.0001")
            await venue.load_markets()
            await session.reconcile_funding(T0 + 3 * HOUR + GRACE_NS)
            assert session.report.funding_from_venue == 1
            assert session.report.funding_mismatches == 1

            entries = {e["ts"]: e for e in ledger.funding_entries(SID)}
            assert sorted(entries) == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
            missed = entries[T0 + 2 * HOUR]
            assert missed["amount"] == D("-12.5") and missed["position"] == D("2.0")
            assert missed["rate"] == D("0.000125")
            assert missed["mark"] * missed["position"] * missed["rate"] == D("12.5")
            assert entries[T0 + 3 * HOUR]["amount"] == D(-10)  # never silently changed
            assert ledger.balances(SID)["USDC"] == D(100_000) - 2 * D(50_000) - D(
                "32.5"
            )  # cash: bought 2 at 50,000

            checks = {c["ts"]: c for c in ledger.funding_checks(SID)}
            assert checks[T0 + HOUR]["status"] == "match"
            assert checks[T0 + 2 * HOUR]["source"] == "venue"
            assert checks[T0 + 2 * HOUR]["status"] == "booked"
            assert checks[T0 + 3 * HOUR]["status"] == "mismatch"
            assert checks[T0 + 3 * HOUR]["venue_amount"] == D("-10.4")
            [event] = ledger.risk_events(SID)
            assert event["check_name"] == "funding_mismatch" and "-10.4" in event["detail"]
            assert ledger.verify_audit().ok
            await venue.close()
            session.lock.release()
            ledger.close()

            # a restart: the same history again books and reports nothing twice
            session, ledger, venue = make_session(tmp_path, url)
            assert session.report.resumed
            await venue.load_markets()
            await session.reconcile_funding(T0 + 3 * HOUR + GRACE_NS)
            assert session.report.funding_from_venue == 0
            assert session.report.funding_mismatches == 0
            assert len(ledger.funding_entries(SID)) == 3
            assert len(ledger.funding_checks(SID)) == 3
            assert len(ledger.risk_events(SID)) == 1
            assert ledger.balances(SID)["USDC"] == D(100_000) - 2 * D(50_000) - D(
                "32.5"
            )  # cash: bought 2 at 50,000
            # the missed time's message arriving late is not booked a second time
            session._on_funding(FundingEvent(T0 + 2 * HOUR, D("0.0001"), D(50_000)))
            assert len(ledger.funding_entries(SID)) == 3
            assert ledger.verify_audit().ok
            await venue.close()
            session.lock.release()
            ledger.close()
        finally:
            await sim.stop()

    asyncio.run(main())


def test_a_running_live_session_reconciles_at_start_and_after_each_funding_time(tmp_path) -> None:
    """Through `Session.run`: the check at start sees the payment the venue already made; a
    payment made while the session runs is booked once the feed's time passes its funding
    time plus the grace period, not before."""
    sim = HyperliquidSim(hl_wallet())
    seen: dict[str, int] = {}

    async def main() -> None:
        url = await sim.start()
        try:
            session, ledger, venue = make_session(tmp_path, url)
            hold_long(session, "2")
            sim.pay_funding((T0 + HOUR) // MS + 57, "BTC", "-10.0", "2.0", "0.0001")

            def trade(n: int, ts: int) -> Trade:
                return Trade("hyperliquid", "BTC", D(50_000), D(1), "buy", str(n), ts)

            async def feed():
                yield trade(1, T0 + HOUR + GRACE_NS + 10**9)
                seen["after_start"] = len(ledger.funding_entries(SID))
                # the venue debits hour 2; the session never hears of it
                sim.pay_funding((T0 + 2 * HOUR) // MS + 40, "BTC", "-12.5", "2.0", "0.000125")
                yield trade(2, T0 + 2 * HOUR + GRACE_NS - 10**9)  # grace not over yet
                seen["before_grace"] = len(ledger.funding_entries(SID))
                yield trade(3, T0 + 2 * HOUR + GRACE_NS + 10**9)
                seen["after_grace"] = len(ledger.funding_entries(SID))
                yield trade(4, T0 + 2 * HOUR + GRACE_NS + 2 * 10**9)

            await venue.load_markets()
            report = await session.run(feed())
            assert report.funding_from_venue == 2 and report.funding_mismatches == 0
            entries = [(e["ts"], e["amount"]) for e in ledger.funding_entries(SID)]
            assert entries == [(T0 + HOUR, D("-10.0")), (T0 + 2 * HOUR, D("-12.5"))]
            assert all(c["source"] == "venue" for c in ledger.funding_checks(SID))
            assert ledger.verify_audit().ok
            await venue.close()
            ledger.close()
        finally:
            await sim.stop()

    asyncio.run(main())
    assert seen == {"after_start": 1, "before_grace": 1, "after_grace": 2}


def test_status_shows_the_reconciled_state(tmp_path, capsys) -> None:
    from nzeza.cli import main as cli

    sim = HyperliquidSim(hl_wallet())

    async def main() -> None:
        url = await sim.start()
        try:
            session, ledger, venue = make_session(tmp_path, url)
            hold_long(session, "2")
            session._on_funding(FundingEvent(T0 + HOUR, D("0.0001"), D(50_000)))
            sim.pay_funding((T0 + 2 * HOUR) // MS + 31, "BTC", "-12.5", "2.0", "0.000125")
            await venue.load_markets()
            # the venue credited nothing for hour 1 (grace over): a mismatch
            await session.reconcile_funding(T0 + 2 * HOUR + GRACE_NS)
            await venue.close()
            session.lock.release()
            ledger.close()
        finally:
            await sim.stop()

    asyncio.run(main())
    capsys.readouterr()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert cli(["status", "--ledger", url]) == 0
    out = capsys.readouterr().out
    assert (
        "funding reconciled with the venue: 2 funding times, 0 matched, 1 booked from the " in out
    )
    assert "1 mismatched" in out
    assert "mismatch hyperliquid:BTC/USDC:USDC at 2026-01-01T01:00:00Z: booked -10" in out
    assert "venue nothing" in out
    assert cli(["status", "--ledger", url, "--session", SID, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rec = doc["funding_reconciled"]
    assert (rec["booked_from_venue"], rec["mismatched"], rec["last_ts"]) == (1, 1, T0 + 2 * HOUR)


def test_plan_waits_for_the_grace_period_before_calling_a_booking_uncredited() -> None:
    booked = {T0 + HOUR: D(-10)}
    assert plan(booked, [], set(), HOUR, T0 + HOUR + GRACE_NS - 1, T0) == []
    [act] = plan(booked, [], set(), HOUR, T0 + HOUR + GRACE_NS, T0)
    assert act.kind == "mismatch" and act.payment is None and act.difference == D(-10)
    # already checked, or before the session started: left alone
    assert plan(booked, [], {T0 + HOUR}, HOUR, T0 + 2 * HOUR, T0) == []
    pay = VenueFunding(PERP.id, T0 - HOUR + 5 * MS, D(-3))
    assert plan({}, [pay], set(), HOUR, T0 + 2 * HOUR, T0) == []


def test_venue_stamps_belong_to_the_nearest_funding_time_and_tolerance_is_tight() -> None:
    assert funding_time(T0 + HOUR + 57 * MS, HOUR) == T0 + HOUR
    assert funding_time(T0 + HOUR - 2_000 * MS, HOUR) == T0 + HOUR
    ok = VenueFunding(PERP.id, T0 + HOUR, D("-10.000001"))
    off = VenueFunding(PERP.id, T0 + HOUR, D("-10.02"))
    [a] = plan({T0 + HOUR: D(-10)}, [ok], set(), HOUR, T0 + 2 * HOUR, T0)
    [b] = plan({T0 + HOUR: D(-10)}, [off], set(), HOUR, T0 + 2 * HOUR, T0)
    assert (a.kind, b.kind) == ("match", "mismatch")
