"""A paper session over the websocket replay of a bundled capture, wired in one call.

The demo and the dashboard notebook use it to have a real session to look at: real sockets on
127.0.0.1, the real session engine, risk hook, durable paper venue, ledger and metrics.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from nzeza.domain import Costs


async def paper_over_replay(
    strategy: Any,
    strategy_name: str,
    ledger: Any,
    venue_db: str | Path,
    *,
    session_id: str,
    capture: str = "binance_btcusdt",
    timeframe: str = "1s",
    costs: Costs | None = None,
    init_cash: float = 10_000.0,
    metrics: Any = None,
) -> Any:
    """Serve the capture over a websocket, run the session to the end of the tape; its report."""
    from nzeza.engine.feed import replay_feed
    from nzeza.engine.runner import feed_paths, risk_hook, session_instrument, session_record
    from nzeza.engine.session import Session, SessionConfig
    from nzeza.feeds.bars import parse_timeframe
    from nzeza.feeds.replay import ReplayServer
    from nzeza.venues.paper.durable import DurablePaperVenue

    costs = costs or Costs()
    feed = f"capture:{capture}"
    paths, symbol = feed_paths(feed)
    symbol = symbol or "BTCUSDT"
    inst = session_instrument(symbol)
    venue = DurablePaperVenue(venue_db, [inst], costs)
    cfg = SessionConfig(
        session_id,
        strategy,
        strategy_name,
        dict(strategy.params),
        inst,
        costs,
        Decimal(str(init_cash)),
        parse_timeframe(timeframe),
        record=session_record(feed, symbol, timeframe, costs, init_cash),
    )
    session = Session(cfg, ledger, venue, metrics=metrics)
    session.pre_trade = risk_hook(ledger, session_id, inst, session.portfolio, metrics)
    try:
        async with ReplayServer(paths) as server:
            return await session.run(replay_feed(server.url, symbol, metrics=metrics))
    finally:
        await venue.close()
