"""Funding payments through ccxt (`fetch_funding_history`) from loopback servers in the venues'
real shapes: Binance USDⓈ-M `GET /fapi/v1/income?incomeType=FUNDING_FEE` (signed, HMAC
checked) and Hyperliquid `userFunding`; a live session books a Binance payment it missed from
the venue's exact amount (Binance gives no rate or position: the position held, and the rate
the amount implies at the last trade)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from support.perp_cases import Scripted
from support.sim.binance_futures import BinanceFuturesServer

from nzeza.domain import Costs, Fill, Perpetual, Side
from nzeza.engine.fundrec import GRACE_NS
from nzeza.engine.session import Session, SessionConfig
from nzeza.errors import VenueError
from nzeza.secrets import clear_secrets
from nzeza.store import Ledger
from nzeza.venues.ccxt import CcxtVenue

D = Decimal
HOUR = 3_600_000_000_000
MS = 1_000_000
T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC
KEY, SECRET = "k" * 64, "s" * 64
INST = "binanceusdm:BTC/USDT:USDT"


def venue(url: str, secret: str = SECRET) -> CcxtVenue:
    return CcxtVenue("binanceusdm", credentials={"apiKey": KEY, "secret": secret}, api_url=url)


def run(coro) -> None:
    try:
        asyncio.run(coro)
    finally:
        clear_secrets()


def test_binance_income_is_read_exactly_and_signed() -> None:
    srv = BinanceFuturesServer({"BTCUSDT": [], "ETHUSDT": []}).start()
    srv.api_secret = SECRET
    srv.pay_funding("BTCUSDT", (T0 - 8 * HOUR) // MS + 3, "1.5", 1)  # before `since`
    srv.pay_funding("BTCUSDT", T0 // MS + 7, "-10.00000001", 2)
    srv.pay_funding("ETHUSDT", T0 // MS + 7, "-3", 3)

    async def main() -> None:
        v = venue(srv.url)
        try:
            [row] = await v.funding_payments(INST, T0 - HOUR)
            assert (row.ts, row.amount, row.rate, row.position) == (
                T0 + 7 * MS, D("-10.00000001"), None, None
            )  # fmt: skip
        finally:
            await v.close()
        bad = venue(srv.url, secret="x" * 64)
        try:
            with pytest.raises(VenueError, match="Signature"):
                await bad.funding_payments(INST, T0 - HOUR)
        finally:
            await bad.close()

    try:
        run(main())
    finally:
        srv.stop()
    [req, *_] = [r for r in srv.requests if r.path == "/fapi/v1/income"]
    assert req.params["incomeType"] == "FUNDING_FEE" and req.params["symbol"] == "BTCUSDT"
    assert req.params["startTime"] == str((T0 - HOUR) // MS)


def test_a_missed_binance_payment_is_booked_at_the_rate_its_amount_implies(tmp_path) -> None:
    perp = Perpetual(
        "binanceusdm", "BTC/USDT:USDT", "BTC", "USDT", D("0.1"), D("0.001"),
        funding_interval_hours=8,
    )  # fmt: skip
    srv = BinanceFuturesServer({"BTCUSDT": []}).start()
    srv.api_secret = SECRET
    srv.pay_funding("BTCUSDT", (T0 + 8 * HOUR) // MS + 4, "-10.00000000", 7)

    async def main() -> None:
        ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=lambda: T0)
        v = venue(srv.url)
        cfg = SessionConfig(
            "bn-live", Scripted([1.0] * 10), "scripted", {}, perp, Costs(0.0, 0.0), D(100_000),
            HOUR, risk=None, mode="live",
        )  # fmt: skip
        session = Session(cfg, ledger, v)
        try:
            fill = Fill("t1", "o1", perp.id, Side.BUY, D(2), D(50_000), D(0), "USDT", T0 + MS)
            assert session.trader.apply_fill(fill)
            session.last_trade = (D(50_000), T0 + 8 * HOUR + GRACE_NS)
            await session.reconcile_funding(T0 + 8 * HOUR + GRACE_NS)
            [entry] = ledger.funding_entries("bn-live")
            assert entry["ts"] == T0 + 8 * HOUR and entry["amount"] == D(-10)
            assert entry["position"] == D(2) and entry["mark"] == D(50_000)
            assert entry["rate"] == D("0.0001")  # -(-10) / (2 × 50,000)
            [check] = ledger.funding_checks("bn-live")
            assert (check["source"], check["status"]) == ("venue", "booked")
            assert ledger.verify_audit().ok
        finally:
            await v.close()
            session.lock.release()
            ledger.close()

    try:
        run(main())
    finally:
        srv.stop()
