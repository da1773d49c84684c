"""No error, log line or repr shows a secret: canary credentials through the venue adapters."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from pydantic import SecretStr
from support.sim.binance import BinanceSim

from nzeza.errors import VenueError
from nzeza.secrets import clear_secrets
from nzeza.venues import OrderRequest
from nzeza.venues.ccxt import CcxtVenue
from nzeza.venues.dydx import DydxKey

CANARY_KEY = "CANARYkey" + "9" * 55
CANARY_SECRET = "CANARYsecret" + "7" * 52
MNEMONIC = (
    "mirror actor skill push coach wait confirm orchard lunch mobile athlete gossip awake "
    "miracle matter bus reopen team ladder lazy list timber render wait"
)


@pytest.fixture(autouse=True)
def _clean():
    yield
    clear_secrets()


def test_ccxt_errors_logs_and_repr_never_show_the_canary(caplog):
    async def main() -> list[str]:
        sim = BinanceSim()
        url = await sim.start()
        v = CcxtVenue(
            "binance",
            credentials={"apiKey": SecretStr(CANARY_KEY), "secret": SecretStr(CANARY_SECRET)},
            api_url=url,
        )
        texts = [repr(v), str(v)]
        try:
            await v.load_markets()
            # The simulator echoes the API key back in its error, as some venues do.
            sim.fail_next(401, -2015, f"Invalid API-key {CANARY_KEY}")
            with pytest.raises(VenueError) as err:
                await v.submit(OrderRequest("nz-1", "binance:BTC/USDT", "buy", Decimal("0.001")))
            texts += [str(err.value), repr(err.value), err.value.message]
            logging.getLogger("nzeza.test").error("submit failed: %s", err.value)
        finally:
            await v.close()
            await sim.stop()
        return texts

    texts = asyncio.run(main())
    texts += [r.getMessage() for r in caplog.records]
    joined = "\n".join(texts)
    assert "Invalid API-key" in joined  # the error is there...
    assert CANARY_KEY not in joined and CANARY_SECRET not in joined  # ...the secret is not


def test_dydx_key_hides_mnemonic_and_private_key():
    key = DydxKey.from_mnemonic(SecretStr(MNEMONIC))
    pk = key._pk.private_key_hex
    err = VenueError("dydx", f"failed with {MNEMONIC} and {pk}", retryable=False)
    for text in (repr(key), str(key), str(err)):
        assert MNEMONIC not in text and pk not in text
