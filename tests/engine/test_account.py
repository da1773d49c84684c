"""The live account's cover check: spot sells need the base held; on a derivatives venue the
part of an order that closes the open position needs no collateral, the rest needs free
collateral for its notional (1×)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from nzeza.domain import Costs, Instrument
from nzeza.engine.account import Account
from nzeza.venues.base import Balance, VenuePosition

BTC = Instrument("perp", "BTC-USD", "BTC", "USDC", Decimal("0.1"), Decimal("0.0001"))


class _Account:
    """A venue's account answers only: balances and positions (a test double of the venue)."""

    name = "perp"

    def __init__(self, free: str, position: str, derivatives: bool) -> None:
        self.caps = {"positions": derivatives}
        self._free, self._pos = Decimal(free), Decimal(position)

    async def balances(self) -> dict[str, Balance]:
        return {"USDC": Balance("USDC", self._free), "BTC": Balance("BTC", max(self._pos, 0))}

    async def positions(self) -> list[VenuePosition]:
        return [VenuePosition(BTC.id, self._pos)] if self._pos else []


def cover(free: str, position: str, side: str, qty: str, derivatives: bool = True) -> Decimal:
    account = Account(_Account(free, position, derivatives), BTC, Costs(0.0, 0.0), Decimal(1))
    allowed, _ = asyncio.run(account.cover(side, Decimal(qty), Decimal(50_000)))
    return allowed


def test_closing_a_long_on_a_perpetual_needs_no_collateral() -> None:
    assert cover("0", "0.5", "sell", "0.5") == Decimal("0.5")


def test_a_flip_on_a_perpetual_needs_collateral_for_the_new_side_only() -> None:
    # close 0.5 long, open 0.2 short: 10,000 USDC covers 0.2 at 50,000
    assert cover("10000", "0.5", "sell", "0.7") == Decimal("0.7")
    # 5,000 USDC covers only 0.1 of the new short
    assert cover("5000", "0.5", "sell", "0.7") == Decimal("0.6")


def test_growing_a_short_on_a_perpetual_needs_collateral() -> None:
    assert cover("5000", "-0.5", "sell", "0.3") == Decimal("0.1")
    assert cover("0", "-0.5", "buy", "0.5") == Decimal("0.5")  # closing it does not


def test_a_spot_account_sells_only_what_it_holds() -> None:
    assert cover("1000000", "0.5", "sell", "0.7", derivatives=False) == Decimal("0.5")
