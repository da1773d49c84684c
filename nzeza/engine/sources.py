"""Trade sources for sessions: a recorded capture (file) or a websocket feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from nzeza.feeds.events import Trade


async def capture_trades(
    paths: Iterable[str | Path],
    symbol: str,
    venue: str = "binance",
    from_ns: int | None = None,
    pace: float = 0.0,
) -> AsyncIterator[Trade]:
    """The public trades of a `<ns> <json>` capture, from exchange time `from_ns` on.

    `pace` > 0 sleeps that many seconds between trades (lets a test kill a session mid-run).
    """
    from importlib import import_module

    from nzeza.feeds.capture import read_capture

    parser = import_module(f"nzeza.feeds.{venue}")
    for path in paths:
        for recv_ns, raw in read_capture(path):
            for event in parser.parse(raw, recv_ns, symbol):
                if type(event) is not Trade:
                    continue
                if from_ns is not None and (event.ts_ns or 0) < from_ns:
                    continue
                yield event
                if pace:
                    await asyncio.sleep(pace)
                else:
                    await asyncio.sleep(0)
