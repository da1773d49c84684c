from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def hourly() -> pd.DataFrame:
    """A deterministic random-walk hourly series (engine tests that need real data use samples)."""
    rng = np.random.default_rng(7)
    n = 2000
    idx = pd.date_range("2021-01-01", periods=n, freq="h", tz="UTC", name="time")
    close = 30000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": rng.uniform(1, 10, n)},
        index=idx,
    )


class ThreadedReplayServer:
    """A `ReplayServer` of the bundled Binance BTCUSDT capture on its own event-loop thread
    (subprocess sessions connect to it over loopback)."""

    def __init__(self, speed: float | None = None, faults=None) -> None:
        import asyncio
        import threading

        from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
        from nzeza.feeds.replay import ReplayServer

        self.loop = asyncio.new_event_loop()
        self.server = ReplayServer(
            [bundled(n) for n in BINANCE_BTCUSDT], speed=speed, faults=faults
        )
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.server.start())

    def call(self, coro):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    @property
    def base_url(self) -> str:
        """ws://127.0.0.1:PORT, as a venue's websocket endpoint is configured."""
        return f"ws://127.0.0.1:{self.server.port}"

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def replay_server():
    """A factory of threaded replay servers, all closed at the end of the test."""
    made: list[ThreadedReplayServer] = []

    def make(**kw) -> ThreadedReplayServer:
        made.append(ThreadedReplayServer(**kw))
        return made[-1]

    yield make
    for server in made:
        server.close()
