"""The credentials `Settings` holds reach the live venue under ccxt's names, for every venue
a live session can start on (a venue that lacks one refuses to start), through the one venue
builder (`nzeza.venues.factory.build_venue`)."""

from __future__ import annotations

import base64

import pytest

from nzeza.ops.settings import VenueSettings
from nzeza.secrets import clear_secrets
from nzeza.venues.ccxt import CcxtVenue, eth_address
from nzeza.venues.factory import ccxt_credentials

HL_KEY = "0x" + "4c" * 32
KRAKEN_SECRET = base64.b64encode(b"k" * 64).decode()


@pytest.mark.parametrize(
    ("venue_id", "fields"),
    [
        ("binance", {"api_key": "b" * 64, "api_secret": "s" * 64}),
        ("kraken", {"api_key": "K" * 56, "api_secret": KRAKEN_SECRET}),
        ("hyperliquid", {"private_key": HL_KEY}),
    ],
)
def test_settings_credentials_start_the_live_venue(venue_id, fields) -> None:
    creds = ccxt_credentials(VenueSettings(**fields))
    venue = CcxtVenue(venue_id, credentials=creds, live=True)  # raises if one is missing
    if venue_id == "hyperliquid":  # signs with the key; the address is derived from it
        assert venue.exchange.walletAddress == eth_address(HL_KEY)
    clear_secrets()
