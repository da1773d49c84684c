"""Tracking: did a paper session do what a replay of the same bars does?

A paper session records its feed (capture files or a websocket URL), its bar timeframe and its
costs in the ledger's session config, and one equity snapshot per closed bar. Rebuilding the
bars offline from the same trades and replaying them through the engine gives the equity the
session should have had; the tracking error is the largest gap between the two curves, as a
fraction of the replayed equity, over the bars both have.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from nzeza.errors import ValidationError

if TYPE_CHECKING:
    from nzeza.store import Ledger
    from nzeza.strategies.base import TargetStrategy


def bars_from_capture(
    paths: Iterable[str | Path], symbol: str, timeframe: str, venue: str = "binance"
) -> pd.DataFrame:
    """OHLCV bars of a capture's public trades, by offline resampling (the session's bars).

    An interval with no trade is a flat bar at the previous close (as the live aggregator
    closes it on time); the last interval is dropped because a stream never closes it.
    """
    from nzeza.engine.sources import capture_trades

    async def collect() -> list[tuple[int, float, float]]:
        return [
            (t.ts_ns or 0, float(t.price), float(t.size))
            async for t in capture_trades(list(paths), symbol, venue=venue)
        ]

    rows = asyncio.run(collect())
    if not rows:
        raise ValidationError("feed", [str(p) for p in paths], "has no trades for " + symbol)
    df = pd.DataFrame(rows, columns=["ts", "price", "size"])
    df.index = pd.to_datetime(df["ts"], unit="ns", utc=True)
    ohlc = df["price"].resample(timeframe).ohlc()
    close = ohlc["close"].ffill()
    ohlc = ohlc.fillna({"open": close, "high": close, "low": close})
    ohlc["close"] = close
    ohlc["volume"] = df["size"].resample(timeframe).sum()
    return ohlc.iloc[:-1]


@dataclass(frozen=True)
class TrackingReport:
    session_id: str
    bars: int
    compared: int
    max_error: float  # max |paper − replay| / replay over the compared bars
    final_paper: float
    final_replay: float

    def __str__(self) -> str:
        return (
            f"{self.session_id}: {self.bars} bars, tracking error {self.max_error:.2e} over "
            f"{self.compared} bars (final equity paper {self.final_paper:,.4f}, "
            f"replay {self.final_replay:,.4f})"
        )


def session_tracking(ledger: Ledger, session_id: str, strategy: TargetStrategy) -> TrackingReport:
    """Replay the bars a recorded paper session saw and compare equity bar by bar."""
    from nzeza.domain import Costs
    from nzeza.engine.replay import replay
    from nzeza.engine.runner import feed_paths, replay_spec, session_instrument

    row = ledger.session(session_id)
    if row is None:
        raise ValidationError("session_id", session_id, "not in the ledger")
    cfg = json.loads(row.get("config") or "{}")
    feed = cfg.get("feed")
    if not feed or not str(feed).startswith(("capture:", "replay:")):
        raise ValidationError(
            "feed",
            feed,
            "the session's feed was not recorded as a replayable capture; record live feeds "
            "with `nzeza feed record` and run the paper session on the recording",
        )
    paths, symbol = feed_paths(feed)
    venue = "binance"
    if symbol is None:  # a recording: its venue and symbol as the session resolved them
        spec = replay_spec(feed, paths, cfg.get("symbol") or "BTCUSDT")
        symbol, venue = spec.symbol, spec.venue
    bars = bars_from_capture(paths, symbol, cfg.get("timeframe", "5s"), venue=venue)
    costs = Costs(float(cfg.get("fee", 0.001)), float(cfg.get("slippage", 0.0005)))
    init_cash = float(cfg.get("init_cash", 10_000.0))
    expected = replay(
        strategy,
        bars,
        costs,
        init_cash,
        windowed=True,
        instrument=session_instrument(symbol),
        equity_every=1,
    )
    curve = ledger.equity_curve(session_id)
    paper = pd.Series(
        [float(e) for _, e in curve],
        index=pd.to_datetime([ts for ts, _ in curve], unit="ns", utc=True),
        dtype=float,
    )
    paper = paper[~paper.index.duplicated(keep="last")]
    ref = expected.equity.reindex(paper.index)
    both = pd.DataFrame({"paper": paper, "replay": ref}).dropna()
    if both.empty:
        raise ValidationError("session_id", session_id, "no bars in common with the replay")
    err = ((both["paper"] - both["replay"]).abs() / both["replay"].abs()).max()
    return TrackingReport(
        session_id,
        len(paper),
        len(both),
        float(err),
        float(both["paper"].iloc[-1]),
        float(both["replay"].iloc[-1]),
    )
