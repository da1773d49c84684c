"""A paper session over the websocket replay of a bundled capture, wired in one call.

The demo and the dashboard notebook use it to have a real session to look at: real sockets on
127.0.0.1, the real session engine, risk gate, durable paper venue, ledger and metrics.
`kill_session` / `release_session` are the notebook's kill switch, the very one `nzeza kill ID`
engages.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from nzeza.domain import Costs


def kill_session(session_id: str, reason: str = "notebook", ledger_url: str | None = None) -> str:
    """Engage one session's kill switch from a notebook, as `nzeza kill ID` does: the session
    (in this kernel or any process under the same runs folder) stops at its next event."""
    from nzeza.engine.lifecycle import kill_session as kill
    from nzeza.ops.settings import load_settings
    from nzeza.store import open_ledger

    runs = load_settings(require_live=False).runs_dir
    with open_ledger(ledger_url) as ledger:
        return kill(ledger, runs, session_id, reason)


def release_session(session_id: str, ledger_url: str | None = None) -> str:
    """Release a killed session's switch (`nzeza kill ID --release`)."""
    from nzeza.engine.lifecycle import release_session as release
    from nzeza.ops.settings import load_settings
    from nzeza.store import open_ledger

    runs = load_settings(require_live=False).runs_dir
    with open_ledger(ledger_url) as ledger:
        return release(ledger, runs, session_id)


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
    """Serve the capture over a websocket, run the session to the end of the tape; its report.
    The session runs with the settings' risk limits and watches its kill switches
    (`kill_session`, `nzeza kill`)."""
    from nzeza.engine.lifecycle import kill_check, refuse_if_killed
    from nzeza.engine.runner import feed_paths, session_instrument, session_record
    from nzeza.engine.session import Session, SessionConfig
    from nzeza.engine.sources import websocket_trades
    from nzeza.feeds.bars import parse_timeframe
    from nzeza.feeds.replay import ReplayServer
    from nzeza.ops.settings import load_settings
    from nzeza.venues.paper.durable import DurablePaperVenue

    settings = load_settings(require_live=False)
    refuse_if_killed(settings.runs_dir, session_id)
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
        risk=settings.risk,
    )
    session = Session(
        cfg,
        ledger,
        venue,
        metrics=metrics,
        kill_switch=kill_check(settings.runs_dir, session_id),
    )
    try:
        async with ReplayServer(paths) as server:
            return await session.run(websocket_trades(server.url, symbol, metrics=metrics))
    finally:
        await venue.close()
