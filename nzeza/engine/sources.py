"""Trade sources for sessions: a recorded capture (file). Websocket feeds (nzeza's replay
server, a venue's public stream) are `nzeza.engine.feed.TradeFeed`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from nzeza.feeds.events import Trade


async def capture_trades(
    paths: Iterable[str | Path],
    symbol: str,
    venue: str = "binance",
    from_ns: int | None = None,
    pace: float = 0.0,
    on_parse_error: Any = None,
) -> AsyncIterator[Trade]:
    """The public trades of `symbol` (the venue's spelling) in a `<ns> <json>` capture of
    `venue`'s messages, from exchange time `from_ns` on.

    A message that does not parse is skipped, as a live feed skips it (`on_parse_error(exc)` is
    told). `pace` > 0 sleeps that many seconds between trades (lets a test kill a session
    mid-run).
    """
    from importlib import import_module

    from nzeza.errors import ParseError
    from nzeza.feeds.capture import read_capture

    parse = import_module(f"nzeza.feeds.{venue}").parse
    for path in paths:
        for recv_ns, raw in read_capture(path):
            try:
                events = parse(raw, recv_ns)
            except ParseError as exc:
                if on_parse_error is not None:
                    on_parse_error(exc)
                continue
            for event in events:
                if type(event) is not Trade or event.symbol != symbol:
                    continue
                if from_ns is not None and (event.ts_ns or 0) < from_ns:
                    continue
                yield event
                if pace:
                    await asyncio.sleep(pace)
                else:
                    await asyncio.sleep(0)


__all__ = [
    "capture_trades",
]
