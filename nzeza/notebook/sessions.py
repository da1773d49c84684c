"""Sessions from a notebook: the ledger a notebook session writes, and a paper session over
the websocket replay of a bundled capture wired in one call.

The demo and the dashboard notebook use `paper_over_replay` to have a real session to look at:
real sockets on 127.0.0.1, the real session engine, risk gate, durable paper venue, ledger and
metrics. `session_ledger` is how `04_session` (and the paper pipeline running it in parallel)
opens its ledger without touching another session's files. `kill_session` / `release_session`
are the notebook's kill switch, the very one `nzeza kill ID` engages.
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
    from nzeza.engine.feed import replay_feed
    from nzeza.engine.lifecycle import kill_check, refuse_if_killed
    from nzeza.engine.runner import feed_paths, session_instrument, session_record
    from nzeza.engine.session import Session, SessionConfig
    from nzeza.feeds.bars import timeframe_ns
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
        timeframe_ns(timeframe),
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
            return await session.run(replay_feed(server.url, symbol, metrics=metrics))
    finally:
        await venue.close()


__all__ = [
    "kill_session",
    "paper_over_replay",
    "release_session",
    "session_ledger",
]
