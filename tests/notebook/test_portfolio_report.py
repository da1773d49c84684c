"""The HTML report of a portfolio run (issue 17): portfolio and per-symbol equity and exposure,
from a replay result and from a paper session in the ledger (per-symbol values from the bars
rebuilt from its recorded capture feed)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import numpy as np
import pytest

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine.aligned import merge_trades
from nzeza.engine.portfolio_replay import replay_portfolio
from nzeza.engine.portfolio_session import PortfolioSession, PortfolioSessionConfig
from nzeza.engine.runner import session_instrument
from nzeza.engine.sources import capture_trades
from nzeza.feeds.capture import bundled
from nzeza.notebook.portfolio_report import replay_frames, session_frames
from nzeza.notebook.report import Report
from nzeza.store import Ledger
from nzeza.strategies import CrossSectionalMomentum
from nzeza.venues.factory import paper_venue

COSTS = Costs(0.001, 0.0005)
FEED = "capture:binance_btcusdt,binance_ethusdt"


def test_replay_report_shows_portfolio_and_symbols(tmp_path) -> None:
    panel = load_sample("bitstamp_1d").iloc[-300:]
    result = replay_portfolio(CrossSectionalMomentum(top=2, lookback=20, rebalance=7), panel, COSTS)
    frames = replay_frames(result, "momentum")
    # each symbol's value is its position at the close; with the cash they make the equity
    cash = frames.equity - frames.values.sum(axis=1)
    closes = np.column_stack([panel[(s, "close")].to_numpy() for s in result.symbols])
    np.testing.assert_allclose(frames.values.to_numpy(), result.positions.to_numpy() * closes)
    assert cash.min() > -1e-6  # long only from cash: never negative
    np.testing.assert_allclose(frames.gross, frames.exposure.abs().sum(axis=1))
    rep = Report("t")
    rep.portfolio(frames)
    html = rep.write(tmp_path / "r.html").read_text()
    assert "Portfolio: momentum" in html and "portfolio equity and each symbol" in html
    assert all(sym in html for sym in ("BTC", "ETH", "LTC")) and "max |exposure|" in html


async def paper(tmp_path, feed: str):
    instruments = {s: session_instrument(s) for s in ("BTCUSDT", "ETHUSDT")}
    strategy = CrossSectionalMomentum(lookback=6, rebalance=1, absolute=False, max_gross=0.5)
    cfg = PortfolioSessionConfig(
        "rep", strategy, "cross_sectional_momentum", dict(strategy.params), instruments, COSTS,
        Decimal(10_000), 5_000_000_000,
        record={"feed": feed, "symbols": list(instruments), "timeframe": "5s"},
    )  # fmt: skip
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}")
    venue = paper_venue(tmp_path / "v.sqlite", list(instruments.values()), COSTS)
    try:
        session = PortfolioSession(cfg, ledger, venue)
        names = {"BTCUSDT": "binance_spot_btcusdt_20240808.jsonl.gz",
                 "ETHUSDT": "binance_spot_ethusdt_20240808.jsonl.gz"}  # fmt: skip
        feeds = {s: capture_trades([bundled(n)], s) for s, n in names.items()}
        await session.run(merge_trades(feeds))
    finally:
        await venue.close()
        ledger.close()


def test_session_report_rebuilds_each_symbols_value_from_the_recorded_feed(tmp_path) -> None:
    asyncio.run(paper(tmp_path, FEED))
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        frames = session_frames(led, "rep")
        cash = np.array([float(r[2]) for r in led.exposure_curve("rep")])
        assert len(led.fills("rep")) > 10
    assert frames.values is not None and list(frames.values.columns) == ["BTCUSDT", "ETHUSDT"]
    # at every snapshot: cash + each symbol's position × its rebuilt close = recorded equity,
    # and the recorded gross exposure is the sum of the symbols' |exposure|
    np.testing.assert_allclose(cash + frames.values.sum(axis=1), frames.equity, rtol=1e-9)
    np.testing.assert_allclose(frames.exposure.abs().sum(axis=1), frames.gross, rtol=1e-9)
    assert (frames.positions != 0).any().all()  # both symbols were held at some point
    assert frames.exposure.abs().max().max() <= 0.5 * 1.05  # max_gross 0.5, one symbol at a time


def test_a_websocket_session_report_has_positions_but_no_symbol_values(tmp_path) -> None:
    asyncio.run(paper(tmp_path, "ws://127.0.0.1:1"))
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        frames = session_frames(led, "rep")
        assert json.loads(led.session("rep")["config"])["feed"].startswith("ws://")
    assert frames.values is None and frames.positions.abs().sum().sum() > 0
    rep = Report("t")
    rep.portfolio(frames)
    html = rep.write(tmp_path / "w.html").read_text()
    assert "Per-symbol values need each symbol&#x27;s bars" in html


def test_cli_writes_the_portfolio_report(tmp_path, capsys) -> None:
    from nzeza.cli import main

    out = tmp_path / "replay.html"
    code = main(
        ["replay", "cross_sectional_momentum", "--sample", "bitstamp_1d", "--html", str(out)]
    )
    assert code == 0 and "Portfolio: cross_sectional_momentum replay" in out.read_text()
    capsys.readouterr()
    code = main(["replay", "sma_cross", "--sample", "btc_usd_1h", "--html", str(out)])
    assert code == 2 and "--html" in capsys.readouterr().err


pytest.importorskip("plotly")
