"""The notebook's session helpers: a real paper session over the websocket replay, with the
settings' risk limits, stopped by the notebook's kill switch (the one `nzeza kill ID` uses)."""

from __future__ import annotations

import asyncio
import os

import pytest

from nzeza.errors import ValidationError
from nzeza.notebook import kill_session, release_session
from nzeza.notebook.sessions import paper_over_replay
from nzeza.store import Ledger
from nzeza.strategies import get_strategy


@pytest.fixture
def runs(tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("NZEZA_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NZEZA_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def test_kill_session_from_a_notebook_stops_the_session_at_once(runs) -> None:
    url = f"sqlite:///{runs / 'ledger.sqlite'}"
    strategy = get_strategy("sma_cross")(fast=5, slow=20)

    async def main():
        with Ledger(url) as ledger:
            task = asyncio.create_task(
                paper_over_replay(strategy, "sma_cross", ledger, runs / "v.sqlite", session_id="nb")
            )
            while ledger.session("nb") is None or len(ledger.equity_curve("nb")) < 20:
                await asyncio.sleep(0.005)
            said = await asyncio.to_thread(kill_session, "nb", "from the notebook", url)
            report = await task
            return said, report, ledger.session("nb")["status"]

    said, report, status = asyncio.run(main())
    assert "kill switch engaged for session nb" in said
    assert report.stopped_by.startswith("kill switch") and "from the notebook" in report.stopped_by
    assert status == "stopped"  # not finished: the tape had not ended
    # killed stays killed, here as from the CLI, until released
    with Ledger(url) as ledger, pytest.raises(ValidationError, match="was killed"):
        asyncio.run(
            paper_over_replay(strategy, "sma_cross", ledger, runs / "v.sqlite", session_id="nb")
        )
    assert "released" in release_session("nb", url)


def test_paper_over_replay_runs_with_the_settings_risk_limits(runs, monkeypatch) -> None:
    monkeypatch.setenv("NZEZA_RISK__MAX_ORDER_NOTIONAL", "1000")
    url = f"sqlite:///{runs / 'ledger.sqlite'}"
    with Ledger(url) as ledger:
        report = asyncio.run(
            paper_over_replay(
                get_strategy("sma_cross")(fast=5, slow=20),
                "sma_cross",
                ledger,
                runs / "v.sqlite",
                session_id="capped",
            )
        )
        fills = ledger.fills("capped")
        events = ledger.risk_events("capped")
    assert report.twaps > 0 and fills
    assert max(f.quantity * f.price for f in fills) <= 1000
    assert {e["check_name"] for e in events} == {"max_order_notional"}
