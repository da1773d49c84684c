"""Operations of a portfolio session (issue 17): /metrics with the session's gauges and one
position and exposure gauge per symbol, /healthz tracking it, served over real HTTP while the
session runs; and `nzeza paper PORTFOLIO --metrics-port` serves them."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from nzeza.domain import Costs
from nzeza.engine.aligned import merge_trades
from nzeza.engine.portfolio_runner import portfolio_health
from nzeza.engine.portfolio_session import PortfolioSession, PortfolioSessionConfig
from nzeza.engine.runner import session_instrument
from nzeza.engine.sources import capture_trades
from nzeza.feeds.capture import bundled
from nzeza.ops.health import OpsServer
from nzeza.ops.metrics import Metrics
from nzeza.ops.risksettings import RiskSettings
from nzeza.store import Ledger
from nzeza.strategies import CrossSectionalMomentum
from nzeza.venues.factory import paper_venue

FILES = {
    "BTCUSDT": "binance_spot_btcusdt_20240808.jsonl.gz",
    "ETHUSDT": "binance_spot_ethusdt_20240808.jsonl.gz",
}
COSTS = Costs(0.001, 0.0005)
S = 1_000_000_000


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scrape: dict, metric: str, /, **labels: str) -> float:
    return scrape[(metric, tuple(sorted(labels.items())))]


def test_metrics_and_health_of_a_portfolio_session(tmp_path) -> None:
    metrics = Metrics()
    seen: dict = {}
    instruments = {s: session_instrument(s) for s in FILES}
    strategy = CrossSectionalMomentum(lookback=6, rebalance=1, absolute=False)
    cfg = PortfolioSessionConfig(
        "ops", strategy, "cross_sectional_momentum", dict(strategy.params), instruments, COSTS,
        Decimal(10_000), 5 * S, record={"feed": "test"}, risk=RiskSettings(max_daily_loss="off"),
    )  # fmt: skip

    async def main() -> None:
        ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        venue = paper_venue(tmp_path / "venue.sqlite", list(instruments.values()), COSTS)
        session = PortfolioSession(cfg, ledger, venue, metrics=metrics)
        loop = asyncio.get_running_loop()
        with OpsServer(metrics, portfolio_health(session, ledger, [])) as ops:
            seen["before"] = await loop.run_in_executor(None, get, ops.url + "/healthz")

            async def probed():
                n = 0
                feeds = {s: capture_trades([bundled(f)], s) for s, f in FILES.items()}
                async for item in merge_trades(feeds):
                    yield item
                    n += 1
                    if n == 6000:  # mid-run, over real HTTP from another thread
                        seen["mid"] = await loop.run_in_executor(None, get, ops.url + "/healthz")

            seen["report"] = await session.run(probed())
            seen["metrics"] = await loop.run_in_executor(None, get, ops.url + "/metrics")
            seen["after"] = await loop.run_in_executor(None, get, ops.url + "/healthz")
        await venue.close()
        seen["snap"] = session.portfolio.snapshot()
        seen["equity"] = ledger.equity_curve("ops")[-1][1]
        ledger.close()

    asyncio.run(main())
    report, snap = seen["report"], seen["snap"]
    assert seen["before"][0] == 503  # no trade yet
    assert seen["mid"][0] == 200, seen["mid"]
    assert seen["after"][0] == 503 and b"finished" in seen["after"][1]
    status, body = seen["metrics"]
    assert status == 200
    scrape = samples(body.decode())
    assert value(scrape, "nzeza_bars_total") == report.bars > 60
    assert value(scrape, "nzeza_equity") == float(seen["equity"])
    assert value(scrape, "nzeza_orders_submitted_total", venue="paper") == report.fills > 10
    held = 0
    for sym, inst in instruments.items():
        qty = snap.position(inst.id).quantity
        assert value(scrape, "nzeza_position", symbol=sym) == float(qty)
        exposure = value(scrape, "nzeza_exposure", symbol=sym)
        assert (exposure > 0.5) == (qty > 0), (sym, exposure, qty)  # top 1 of 2, all in
        held += qty > 0
    assert value(scrape, "nzeza_open_positions") == held


def test_cli_serves_metrics_for_a_portfolio_session(tmp_path, capsys, monkeypatch) -> None:
    from nzeza.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NZEZA_RUNS_DIR", str(tmp_path / "runs"))
    code = main(
        ["paper", "cross_sectional_momentum", "--symbol", "BTCUSDT,ETHUSDT", "--params",
         "lookback=6", "rebalance=1", "absolute=false", "--timeframe", "5s", "--metrics-port", "0",
         "--ledger", f"sqlite:///{tmp_path / 'l.sqlite'}", "--venue-db", str(tmp_path / "v.db")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "metrics and health on http://127.0.0.1:" in out and "/metrics" in out
    assert "not served" not in out
