"""A live session's account at its venue: what it holds decides what the session may send.

- At start the venue must report its balances (`start()`), else the session does not start
  (`LiveTradingNotAllowed`, naming the venue and why). A new session's starting cash is
  `fraction` (`NZEZA_RISK__ACCOUNT_FRACTION`) of the account's free quote balance: live sizes
  from what the account holds, never from a number typed on the command line.
- Balances (and, on a derivatives venue, positions) are read again at every reconcile and
  before every order (`cover`), because other sessions and people share an account.
- `cover(side, quantity, price)` is how much of an order the account can pay for now: a buy
  needs quantity × price × (1 + slippage) × (1 + fee) of free quote currency; a sell on a spot
  venue needs the quantity in free base currency (a spot account cannot sell what it does not
  hold); on a derivatives venue the part of an order that reduces the open position needs no
  collateral, and the free collateral must cover the notional of the part that opens or grows
  one (no leverage is assumed). An order is reduced to what is covered (on the lot), or refused
  when nothing is.
  A venue that cannot answer refuses the order: an unknown balance covers nothing.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from nzeza.domain import Costs, Instrument
from nzeza.domain.numbers import ZERO
from nzeza.errors import LiveTradingNotAllowed, VenueError, clip
from nzeza.ops.logging import get_logger

if TYPE_CHECKING:
    from nzeza.venues.base import Venue


log = get_logger("nzeza.engine.session")


class Account:
    """Balances of the venue account a live session trades (see the module docstring)."""

    def __init__(
        self, venue: Venue, instrument: Instrument, costs: Costs, fraction: Decimal
    ) -> None:
        self.venue = venue
        self.instrument = instrument
        self.costs = costs
        self.fraction = Decimal(fraction)
        self.balances: dict[str, Any] = {}
        self.positions: list[Any] = []
        self.derivatives = bool(getattr(venue, "caps", {}).get("positions", False))

    async def refresh(self) -> None:
        """Read balances and positions (raises the venue's `VenueError`)."""
        self.balances = dict(await self.venue.balances())
        self.positions = list(await self.venue.positions()) if self.derivatives else []

    def free(self, currency: str) -> Decimal:
        bal = self.balances.get(currency)
        return Decimal(bal.free) if bal is not None else ZERO

    async def start(self) -> Decimal:
        """Read the account; the starting cash of a new session (`fraction` of free quote)."""
        quote = self.instrument.quote
        try:
            await self.refresh()
        except VenueError as exc:
            raise LiveTradingNotAllowed(
                [f"{self.venue.name} cannot report the account's balances: {clip(str(exc), 200)}"]
            ) from None
        if quote not in self.balances or self.free(quote) <= 0:
            held = ", ".join(sorted(self.balances)) or "nothing"
            raise LiveTradingNotAllowed(
                [
                    f"the {self.venue.name} account holds no free {quote} to trade "
                    f"{self.instrument.symbol} with (it reports: {held})"
                ]
            )
        budget = (self.free(quote) * self.fraction).quantize(Decimal("1e-8"), ROUND_DOWN)
        log.info(
            "live sizing from the account",
            extra={"free": str(self.free(quote)), "fraction": str(self.fraction)},
        )
        return budget

    def snapshot(self) -> dict[str, Any]:
        """The account as an audit record."""
        return {
            "balances": {
                c: {"free": str(b.free), "used": str(b.used)} for c, b in self.balances.items()
            },
            "positions": [
                {"instrument": p.instrument_id, "quantity": str(p.quantity)} for p in self.positions
            ],
        }

    async def cover(self, side: str, quantity: Decimal, price: Decimal) -> tuple[Decimal, str]:
        """(what of `quantity` the account covers now, what it holds) — see the docstring."""
        inst = self.instrument
        try:
            await self.refresh()
        except VenueError as exc:
            return ZERO, f"balances unavailable: {clip(str(exc), 120)}"
        fill = self.costs.fill_price(side, price)
        if self.derivatives:
            # what the order closes of the open position is covered by the position itself
            pos = sum(
                (Decimal(p.quantity) for p in self.positions if p.instrument_id == inst.id), ZERO
            )
            reducing = min(quantity, max(-pos if side == "buy" else pos, ZERO))
            held = self.free(inst.quote)
            opening = held / (fill * (1 + self.costs.fee_dec))
            allowed = reducing + min(quantity - reducing, opening)
            what = f"{held} {inst.quote} free collateral, position {pos}"
        elif side == "sell":
            held = self.free(inst.base)
            allowed = min(quantity, held)
            what = f"{held} {inst.base} free"
        else:
            held = self.free(inst.quote)
            allowed = min(quantity, held / (fill * (1 + self.costs.fee_dec)))
            what = f"{held} {inst.quote} free"
        allowed = inst.make_qty(max(allowed, ZERO), ROUND_DOWN)
        if allowed < inst.min_qty or allowed * fill < inst.min_notional:
            allowed = ZERO
        return allowed, what


__all__ = ["Account"]
