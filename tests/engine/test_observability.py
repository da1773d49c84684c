"""Every metric the engine promises is exported and updated by a real session, scraped over
real HTTP; /healthz reports feed, venue, ledger, breaker and session state (200 / 503)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.toy_strategies import SmaLike

from nzeza.domain import Costs
from nzeza.engine.feed import venue_feed
from nzeza.engine.runner import (
    FeedSpec,
    feed_breaker,
    risk_hook,
    session_health,
    session_instrument,
    trade_source,
)
from nzeza.engine.session import Session, SessionConfig
from nzeza.engine.sources import capture_trades
from nzeza.errors import VenueError
from nzeza.feeds.breaker import CircuitBreaker
from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
from nzeza.feeds.connection import Backoff, FeedGaveUp
from nzeza.feeds.replay import Faults, ReplayServer
from nzeza.ops.health import OpsServer
from nzeza.ops.metrics import Metrics
from nzeza.risk import RiskConfig
from nzeza.store import Ledger
from nzeza.venues.paper.durable import DurablePaperVenue

COSTS = Costs(0.001, 0.0005)
TF = 5_000_000_000
PATHS = [bundled(n) for n in BINANCE_BTCUSDT]

# Every metric named by the engine's observability requirement, by exported sample name.
REQUIRED = {
    "decision-to-ack latency": "nzeza_decision_to_ack_seconds_count",
    "orders submitted": "nzeza_orders_submitted_total",
    "orders filled": "nzeza_orders_filled_total",
    "orders rejected by reason": "nzeza_orders_rejected_total",
    "risk rejections by check": "nzeza_risk_rejections_total",
    "websocket state": "nzeza_ws_state",
    "websocket reconnects": "nzeza_ws_reconnects_total",
    "feed messages": "nzeza_feed_messages_total",
    "feed parse errors": "nzeza_feed_parse_errors_total",
    "circuit-breaker state": "nzeza_circuit_breaker_state",
    "rate-limiter tokens": "nzeza_rate_limiter_tokens",
    "daily PnL": "nzeza_daily_pnl",
    "equity": "nzeza_equity",
    "open positions": "nzeza_open_positions",
    "bar lag": "nzeza_bar_lag_seconds",
}


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


def make_session(tmp, sid, metrics, venue=None, instruments=True):
    inst = session_instrument("BTCUSDT")
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
    venue = venue or DurablePaperVenue(tmp / f"{sid}.sqlite", [inst] if instruments else [], COSTS)
    cfg = SessionConfig(sid, SmaLike(short=True), "smalike", {}, inst, COSTS, Decimal(10_000), TF)
    return Session(cfg, ledger, venue, metrics=metrics), ledger, inst


def test_every_metric_is_exported_and_updated_and_healthz_tracks_the_session(tmp_path) -> None:
    metrics = Metrics()
    mid_run: dict = {}

    async def main() -> None:
        # 1. a paper session over a websocket feed that drops once and sends malformed frames
        faults = Faults(drop_every=4000, max_drops=1, malformed_every=1000)
        async with ReplayServer(PATHS, speed=None, faults=faults) as server:
            session, ledger, _ = make_session(tmp_path, "ws", metrics)
            spec = FeedSpec("url", "BTCUSDT", url=server.url)
            breaker = feed_breaker(spec, metrics)
            health = session_health(session, ledger, breaker)
            with OpsServer(metrics, health) as ops:
                loop = asyncio.get_running_loop()

                async def probed():
                    n = 0
                    async for trade in trade_source(spec, None, metrics=metrics, breaker=breaker):
                        yield trade
                        n += 1
                        if n == 3000:  # mid-run, over real HTTP from another thread
                            mid_run["healthz"] = await loop.run_in_executor(
                                None, get, ops.url + "/healthz"
                            )
                            mid_run["metrics"] = await loop.run_in_executor(
                                None, get, ops.url + "/metrics"
                            )

                report = await session.run(probed())
                mid_run["report"] = report
                mid_run["after"] = await loop.run_in_executor(None, get, ops.url + "/healthz")
            ledger.close()
        # 2. risk rejects every intent of another session (journaled, counted by check)
        session, ledger, inst = make_session(tmp_path, "risky", metrics)
        session.pre_trade = risk_hook(
            ledger,
            "risky",
            inst,
            session.portfolio,
            metrics,
            RiskConfig(max_order_notional=Decimal(100), max_slippage_bps=None),
        )
        await session.run(capture_trades(PATHS, "BTCUSDT"))
        ledger.close()
        # 3. the venue refuses every order of a third (it does not list the instrument)
        session, ledger, _ = make_session(tmp_path, "refused", metrics, instruments=False)
        mid_run["refused"] = await session.run(capture_trades(PATHS, "BTCUSDT"))
        mid_run["refused_orders"] = ledger.orders("refused")
        mid_run["refused_intents"] = ledger.intents("refused")
        ledger.close()

    asyncio.run(main())
    report = mid_run["report"]
    assert report.fills > 3

    code, body = mid_run["healthz"]
    doc = json.loads(body)
    assert code == 200, doc
    assert set(doc["components"]) == {"feed", "venue", "ledger", "breaker", "session"}
    assert all(c["healthy"] for c in doc["components"].values())
    assert doc["components"]["breaker"]["detail"] == "closed"
    code, body = mid_run["after"]
    doc = json.loads(body)
    assert code == 503 and doc["status"] == "unhealthy"
    assert doc["components"]["session"] == {"healthy": False, "detail": "stopped"}

    scrape = samples(get_final(metrics))
    names = {name for name, _ in scrape}
    missing = {what: n for what, n in REQUIRED.items() if n not in names}
    assert not missing, f"not exported: {missing}"
    venue, feed = {"venue": "paper"}, {"venue": "binance"}
    assert value(scrape, "nzeza_decision_to_ack_seconds_count", **venue) == report.fills
    assert value(scrape, "nzeza_orders_submitted_total", **venue) == report.fills
    assert value(scrape, "nzeza_orders_filled_total", **venue) == report.fills
    refused = mid_run["refused"]
    assert refused.venue_rejected == refused.intents > 0 and refused.fills == 0
    assert value(scrape, "nzeza_orders_rejected_total", venue="paper", reason="rejected") == (
        refused.venue_rejected
    )
    assert {o["status"] for o in mid_run["refused_orders"]} == {"rejected"}
    assert {i["status"] for i in mid_run["refused_intents"]} == {"rejected"}
    assert value(scrape, "nzeza_risk_rejections_total", check="max_order_notional") > 0
    assert value(scrape, "nzeza_ws_state", **feed) == 0  # disconnected: the tape ended
    assert value(scrape, "nzeza_ws_reconnects_total", **feed) == 1  # the one injected drop
    assert value(scrape, "nzeza_feed_messages_total", **feed) > 3000
    assert value(scrape, "nzeza_feed_parse_errors_total", **feed) >= 3
    assert value(scrape, "nzeza_circuit_breaker_state", name="binance-ws") == 0  # closed
    # the session gauges, as the websocket session had them mid-run (the later sessions share
    # this registry and overwrite them)
    mid = samples(mid_run["metrics"][1].decode())
    assert value(mid, "nzeza_ws_state", **feed) == 2  # connected
    assert value(mid, "nzeza_orders_submitted_total", **venue) > 0
    assert 0 <= value(mid, "nzeza_rate_limiter_tokens", **venue) < 1_000_000  # orders took some
    assert value(mid, "nzeza_equity") > 0
    assert value(mid, "nzeza_daily_pnl") != 0  # costs alone move it once it has traded
    assert value(mid, "nzeza_open_positions") == 1  # long or short: SmaLike is always in
    assert value(mid, "nzeza_bar_lag_seconds") > 86_400  # the capture is from 2024


def get_final(metrics: Metrics) -> str:
    with OpsServer(metrics, session_health_stub()) as ops:
        code, body = get(ops.url + "/metrics")
    assert code == 200
    return body.decode()


def session_health_stub():
    from nzeza.ops.health import Health

    return Health()


def test_breaker_opens_on_repeated_connection_failures_and_is_exported(unused_port) -> None:
    metrics = Metrics()
    breaker = CircuitBreaker(
        "binance-ws",
        failure_threshold=2,
        base_timeout_s=0.01,
        max_timeout_s=0.02,
        on_transition=lambda old, new, why: metrics.set_breaker_state("binance-ws", new.value),
    )
    seen: list[float] = []
    breaker.add_listener(
        lambda old, new, why: seen.append(
            value(
                samples(metrics.render().decode()), "nzeza_circuit_breaker_state", name="binance-ws"
            )
        )
    )

    async def main():
        feed = venue_feed(
            "binance",
            f"ws://127.0.0.1:{unused_port}",
            "BTCUSDT",
            max_retries=4,
            metrics=metrics,
            breaker=breaker,
            backoff=Backoff(base_s=0.001, cap_s=0.005),
        )
        async for _ in feed:
            pass

    with pytest.raises(FeedGaveUp) as err:
        asyncio.run(main())
    assert err.value.venue == "binance" and err.value.attempts == 4
    assert isinstance(err.value, VenueError) and not err.value.retryable  # it gave up
    assert 2.0 in seen  # open was exported
    assert breaker.total_trips >= 1
    scrape = samples(metrics.render().decode())
    assert value(scrape, "nzeza_ws_state", venue="binance") == 3  # failed
    # 5 failed attempts: a reconnect before each of the 4 retries, then it gave up
    assert value(scrape, "nzeza_ws_reconnects_total", venue="binance") == 4


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
