"""Sessions from a notebook: the ledger a notebook session writes, and a paper session over
the websocket replay of a bundled capture wired in one call.

The demo and the dashboard notebook use `paper_over_replay` to have a real session to look at:
real sockets on 127.0.0.1, the real session engine, risk hook, durable paper venue, ledger and
metrics. `session_ledger` is how `04_session` (and the paper pipeline running it in parallel)
opens its ledger without touching another session's files.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from nzeza.domain import Costs


def session_ledger(session_id: str, run_dir: str | Path) -> tuple[Any, Path]:
    """A fresh SQLite ledger of this session alone, `<run_dir>/<session_id>.sqlite`, and its
    paper venue's database file `<run_dir>/<session_id>-venue.sqlite` (empty).

    An earlier run's files for this id go first, with their `-wal`/`-shm` companions: a stale
    WAL beside a new database file of the same name is read as part of it. Parallel runs
    (the paper pipeline) must use distinct session ids; sessions do not share a ledger here
    because every paper venue numbers its fills from the same first trade id, and the ledger
    keeps one fill per (venue, trade id).
    """
    from nzeza.store import Ledger

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    ledger_path, venue_db = run / f"{session_id}.sqlite", run / f"{session_id}-venue.sqlite"
    for path in (ledger_path, venue_db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Ledger(f"sqlite:///{ledger_path}"), venue_db


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
