"""The dashboard reads a session the engine wrote to a real SQLite ledger."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.notebook.dashboard import equity_figure, read_metrics, session_frames, session_summary
from nzeza.ops.health import Health, OpsServer
from nzeza.ops.metrics import Metrics
from nzeza.store import Ledger


class Flip:
    """Long on even days, flat on odd days: a few trades, no lookahead."""

    warmup = 1
    params: ClassVar[dict] = {}

    def target(self, bars: pd.DataFrame) -> pd.Series:
        return pd.Series((bars.index.day % 2 == 0).astype(float), index=bars.index)


def bars(n: int = 24 * 8) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="time")
    close = 100 + np.cumsum(np.sin(np.arange(n) / 5))
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0},
        index=idx,
    )


def test_frames_and_summary_from_a_replayed_session(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        result = replay(Flip(), bars(), Costs(0.001, 0.0), 1000.0, ledger=ledger, session_id="dash")
        frames = session_frames(ledger, "dash")
        summary = session_summary(ledger, "dash")
    assert len(frames["fills"]) == len(result.fills) > 0
    assert set(frames["orders"]["status"]) == {"filled"}
    assert summary["fills"] == len(result.fills)
    assert summary["status"] == "finished"
    assert abs(summary["equity"] - result.final_equity) < 1e-9
    fig = equity_figure(frames["equity"]["equity"])
    assert len(fig.data) == 2


def test_read_metrics_scrapes_a_live_endpoint() -> None:
    metrics = Metrics()
    metrics.equity.set(1234.5)
    with OpsServer(metrics, Health()) as server:
        values = read_metrics(server.url + "/metrics")
    assert values["nzeza_equity"] == 1234.5
    assert read_metrics("http://127.0.0.1:9/metrics", timeout=0.5) == {}


def test_health_frame_names_feed_circuit_and_tripped_breaker_states() -> None:
    from nzeza.notebook.dashboard import health_frame

    metrics = Metrics()
    metrics.set_ws_state("binance", "connected")
    metrics.set_breaker_state("binance", "open")
    metrics.ws_reconnects.labels("binance").inc(3)
    with OpsServer(metrics, Health()) as ops:
        scraped = read_metrics(ops.url + "/metrics")
    risk = pd.DataFrame(
        [{"time": pd.Timestamp("2024-08-09", tz="UTC"), "check_name": "daily_loss"}]
    )
    states = dict(health_frame(scraped, risk).itertuples(index=False))
    assert states["feed binance"] == "connected"
    assert states["circuit binance"] == "open"
    assert states["feed binance reconnects"] == 3
    assert states["risk breaker"].startswith("tripped (daily_loss")
    assert dict(health_frame({}).itertuples(index=False)) == {"risk breaker": "not tripped"}


def test_refresh_redraws_the_equity_chart_from_the_ledger(tmp_path) -> None:
    """Press Refresh while a session writes its ledger: the chart shows the new equity."""
    import base64
    from decimal import Decimal

    from nzeza.notebook.dashboard import Dashboard
    from nzeza.notebook.widgets import figure_data

    def equity_y(dash: Dashboard) -> np.ndarray:
        y = next(t for t in figure_data(dash.tables) if t["name"] == "equity")["y"]
        if isinstance(y, dict):
            return np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"]))
        return np.asarray(y, dtype=float)

    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        replay(Flip(), bars(), Costs(0.001, 0.0), 1000.0, ledger=ledger, session_id="dash")
        dash = Dashboard(ledger, "dash")
        dash.refresh()
        before = equity_y(dash)
        assert len(before) == len(ledger.equity_curve("dash")) > 0
        last_ts = ledger.equity_curve("dash")[-1][0]
        for i, eq in enumerate(("1100", "1200.5")):  # the running session books two more bars
            e = Decimal(eq)
            ledger.record_equity("dash", last_ts + (i + 1) * 3_600_000_000_000, e, e, e * 0, e * 0)
        dash.button.click()
        after = equity_y(dash)
    assert len(after) == len(before) + 2
    assert after[-2:].tolist() == [1100.0, 1200.5]
    assert "equity 1,200.50" in dash.summary.value
