"""dYdX v4's funding payments through the indexer (`GET /v4/fundingPayments`, its real
response shape, from a loopback stub): what a live session reconciles its booked funding with."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from support.sim.dydx import DydxStub

from nzeza.engine.fundrec import funding_time
from nzeza.venues.dydx.venue import DydxVenue

D = Decimal
HOUR = 3_600_000_000_000
MS = 1_000_000
T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC
# the public test vector of dydxprotocol/v4-clients (as in test_dydx.py)
TEST_MNEMONIC = (
    "mirror actor skill push coach wait confirm orchard lunch mobile athlete gossip awake "
    "miracle matter bus reopen team ladder lazy list timber render wait"
)


def test_dydx_indexer_funding_payments_are_read_oldest_first_with_signed_positions() -> None:
    async def main() -> None:
        stub = DydxStub(chain_id="dydx-testnet-4")
        url = await stub.start()
        try:
            v = DydxVenue(TEST_MNEMONIC, node_url=url, indexer_url=url, chain_id="dydx-testnet-4")
            stub.add_account(v.address)
            stub.pay_funding(v.address, "2026-01-01T00:00:00.512Z", "BTC-USD", "-0.5", "0.1",
                             "LONG", "0.0001", "50000")  # fmt: skip
            stub.pay_funding(v.address, "2026-01-01T01:00:00.480Z", "BTC-USD", "0.25", "0.1",
                             "SHORT", "0.00005", "50000")  # fmt: skip
            stub.pay_funding(v.address, "2026-01-01T01:00:00.480Z", "ETH-USD", "9", "1",
                             "LONG", "0.0001", "3000")  # fmt: skip
            stub.pay_funding("dydx1other", "2026-01-01T01:00:00.480Z", "BTC-USD", "7", "1",
                             "LONG", "0.0001", "50000")  # fmt: skip
            rows = await v.funding_payments("dydx:BTC-USD", T0 + 30 * 60 * 10**9)
            assert [(r.ts, r.amount, r.rate, r.position) for r in rows] == [
                (T0 + HOUR + 480 * MS, D("0.25"), D("0.00005"), D("-0.1"))
            ]
            every = await v.funding_payments("dydx:BTC-USD")
            assert [r.amount for r in every] == [D("-0.5"), D("0.25")]
            assert funding_time(every[0].ts, HOUR) == T0
            await v.close()
        finally:
            await stub.stop()
        assert stub.funding_queries[0]["afterOrAt"] == "2026-01-01T00:30:00.000Z"
        assert stub.funding_queries[0]["ticker"] == "BTC-USD"

    asyncio.run(main())
