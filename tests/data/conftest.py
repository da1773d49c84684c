"""Fixtures of the data-layer tests: a loopback-only network guard and a local Binance server.

Self-contained (nothing here is used outside tests/data); the server itself lives in
`tests/support/sim/binance_market.py` for reuse.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from support.sim.binance_market import BinanceRestServer, ccxt_binance_options, klines_from_frame

from nzeza.data import load_sample

# The served history: 8 months of the real btc_usd_1h sample (5,809 hourly bars).
SERVED_START, SERVED_END = "2020-10-01", "2021-05-31 23:00"


class LoopbackGuard:
    """Refuses any socket connection that is not to a loopback address (and records it)."""

    def __init__(self) -> None:
        self.blocked: list[Any] = []
        self.allowed: list[Any] = []

    def check(self, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is None:  # AF_UNIX paths are local by definition
            return
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            self.blocked.append(address)
            raise ConnectionRefusedError(f"test guard: non-loopback connection to {address}")
        self.allowed.append(address)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackGuard]:
    """Every data test runs with connections outside 127.0.0.0/8 and ::1 refused."""
    guard = LoopbackGuard()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        guard.check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        guard.check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    yield guard
    assert guard.blocked == [], f"a test tried to leave loopback: {guard.blocked}"


@pytest.fixture(scope="module")
def served_bars() -> pd.DataFrame:
    return load_sample("btc_usd_1h").loc[SERVED_START:SERVED_END]


@pytest.fixture
def binance(served_bars: pd.DataFrame) -> Iterator[BinanceRestServer]:
    """A fresh local Binance spot server serving BTCUSDT 1h klines from the real sample."""
    with BinanceRestServer({("BTCUSDT", "1h"): klines_from_frame(served_bars, "1h")}) as srv:
        yield srv


@pytest.fixture
def binance_options(binance: BinanceRestServer) -> dict[str, Any]:
    return ccxt_binance_options(binance.url)


@pytest.fixture
def no_sleep() -> list[float]:
    """A recording stand-in for time.sleep in retry paths: tests assert waits, not wall time."""
    return []
