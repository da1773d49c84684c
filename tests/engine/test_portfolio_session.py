"""The multi-symbol paper session (issue 17): BTCUSDT + ETHUSDT captured on the same day, replayed
through the loopback websocket server, bars aligned on one clock, one portfolio strategy trading
both through the durable paper venue in one session; killed for real mid-session and restarted
with the same id, it ends with the ledger of an uninterrupted run."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from nzeza.domain import Costs
from nzeza.engine.aligned import AlignedBars, merge_trades
from nzeza.engine.portfolio_session import PortfolioSession, PortfolioSessionConfig
from nzeza.engine.runner import session_instrument
from nzeza.engine.sources import capture_trades
from nzeza.errors import ValidationError
from nzeza.feeds.capture import bundled
from nzeza.ops.risksettings import DEFAULT_RISK, RiskSettings
from nzeza.store import Ledger
from nzeza.strategies import CrossSectionalMomentum
from nzeza.venues.factory import paper_venue

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "BTCUSDT": "binance_spot_btcusdt_20240808.jsonl.gz",
    "ETHUSDT": "binance_spot_ethusdt_20240808.jsonl.gz",
}
PARAMS = ["lookback=6", "rebalance=1", "absolute=false", "max_gross=0.5"]
COSTS = Costs(0.001, 0.0005)
S = 1_000_000_000


# -- aligned bars (sans-I/O) ------------------------------------------------------------------
def test_aligned_bars_close_every_bucket_once_with_flat_bars_for_quiet_symbols() -> None:
    agg = AlignedBars(["A", "B"], 5 * S)
    assert agg.on_trade("A", 10, 1, 1 * S) == [] and agg.opened
    assert agg.on_trade("A", 12, 1, 2 * S) == [] and not agg.opened
    assert agg.on_trade("A", 9, 2, 4 * S) == []
    # B trades in the next bucket: the first closes with A's bar only (B has no history)
    closed = agg.on_trade("B", 100, 1, 6 * S)
    assert agg.opened and closed == [
        (0, {"A": {"open": 10.0, "high": 12.0, "low": 9.0, "close": 9.0, "volume": 4.0}})
    ]
    # a jump over two empty buckets closes three: B's real bar, then flat bars at each close
    closed = agg.on_trade("A", 11, 1, 21 * S)
    assert [start for start, _ in closed] == [5 * S, 10 * S, 15 * S]
    assert closed[0][1]["A"] == {"open": 9.0, "high": 9.0, "low": 9.0, "close": 9.0, "volume": 0.0}
    assert closed[0][1]["B"]["close"] == 100.0
    assert closed[2][1]["B"] == {
        "open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0, "volume": 0.0,
    }  # fmt: skip
    assert agg.on_trade("B", 99, 1, 3 * S) == [] and not agg.opened  # never back in time


def test_merge_interleaves_by_time_and_ends_with_the_first_feed_to_end() -> None:
    from types import SimpleNamespace as T

    async def feed(*stamps):
        for ts in stamps:
            yield T(ts_ns=ts, recv_ns=None)

    async def collect():
        return [
            (s, t.ts_ns) async for s, t in merge_trades({"A": feed(1, 3, 3, 9), "B": feed(2, 3, 5)})
        ]

    assert asyncio.run(collect()) == [("A", 1), ("B", 2), ("A", 3), ("A", 3), ("B", 3), ("B", 5)]


# -- one session in process -------------------------------------------------------------------
def session_config(session_id: str, risk: RiskSettings | None = DEFAULT_RISK):
    instruments = {s: session_instrument(s) for s in FILES}
    strategy = CrossSectionalMomentum(lookback=6, rebalance=1, absolute=False)
    return PortfolioSessionConfig(
        session_id, strategy, "cross_sectional_momentum", dict(strategy.params), instruments,
        COSTS, Decimal(10_000), 5 * S, record={"feed": "test"}, risk=risk,
    )  # fmt: skip


async def run_in_process(tmp: Path, cfg, limit: int | None = None):
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
    venue = paper_venue(tmp / "venue.sqlite", list(cfg.instruments.values()), COSTS)
    try:
        session = PortfolioSession(cfg, ledger, venue)
        start = session.resume_from_ns()
        feeds = {s: capture_trades([bundled(f)], s, from_ns=start) for s, f in FILES.items()}
        trades = merge_trades(feeds)
        if limit is not None:
            trades = _first(trades, limit)
        report = await session.run(trades)
        return report, session
    finally:
        await venue.close()
        ledger.close()


async def _first(trades, n):
    async for i, item in _enumerate(trades):
        if i >= n:
            return
        yield item


async def _enumerate(it):
    i = 0
    async for item in it:
        yield i, item
        i += 1


def test_one_session_trades_both_symbols_from_one_cash_balance(tmp_path) -> None:
    report, session = asyncio.run(run_in_process(tmp_path, session_config("one")))
    assert report.bars > 60 and report.fills > 10
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        fills = led.fills("one")
        assert {f.instrument_id for f in fills} == {"paper:BTC/USDT", "paper:ETH/USDT"}
        assert set(led.balances("one")) == {"USDT"}  # one cash balance
        intents = led.intents("one")
        assert [i["seq"] for i in intents] == list(range(1, len(intents) + 1))
        # within each rebalance, sells before buys (the switch from one symbol to the other)
        by_decision: dict[int, list[str]] = {}
        for i in intents:
            by_decision.setdefault(i["bar_ts"], []).append(i["side"])
        switches = [sides for sides in by_decision.values() if len(set(sides)) == 2]
        assert switches and all(s == sorted(s, key=lambda x: x == "buy") for s in switches)
        # top 1 of 2, fully invested: after each buy, one symbol held at ~100 % of equity
        snap = session.portfolio.snapshot()
        held = [
            q for q in (snap.position(i.id).quantity for i in session.cfg.instruments.values()) if q
        ]
        assert len(held) <= 1
        assert led.session("one")["status"] == "finished"


def test_resuming_with_a_loosened_limit_is_refused(tmp_path) -> None:
    report, _ = asyncio.run(run_in_process(tmp_path, session_config("loose"), limit=3000))
    assert report.fills > 0
    loose = RiskSettings(max_gross_exposure="300%")
    with pytest.raises(ValidationError) as err:
        asyncio.run(run_in_process(tmp_path, session_config("loose", risk=loose)))
    assert "risk.max_gross_exposure 150% → 300%" in str(err.value)
    # a new session may loosen it: the ledger records it
    asyncio.run(run_in_process(tmp_path, session_config("loose-2", risk=loose), limit=10))
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        details = [e["detail"] for e in led.risk_events("loose-2")]
    assert "limit loosened: max_gross_exposure 150% → 300%" in details


def test_a_session_needs_two_symbols_of_one_quote() -> None:
    cfg = session_config("x")
    with pytest.raises(ValidationError) as err:
        PortfolioSessionConfig(
            **{**cfg.__dict__, "instruments": {"BTCUSDT": cfg.instruments["BTCUSDT"]}}
        )
    assert err.value.field == "symbols"
    mixed = {"BTCUSDT": session_instrument("BTCUSDT"), "ETHUSD": session_instrument("ETH-USD")}
    with pytest.raises(ValidationError):
        PortfolioSessionConfig(**{**cfg.__dict__, "instruments": mixed})
    with pytest.raises(ValidationError) as err:  # stops it would not run: refused, not ignored
        PortfolioSessionConfig(**{**cfg.__dict__, "risk": RiskSettings(stop_loss="0.02")})
    assert "stops" in err.value.reason


# -- killed for real, restarted with the same id ----------------------------------------------
class Server:
    """A ReplayServer of both captures (one tape in time order) on its own loop thread."""

    def __init__(self, speed: float | None) -> None:
        import threading

        from nzeza.feeds.replay import ReplayServer

        self.loop = asyncio.new_event_loop()
        self.server = ReplayServer([bundled(f) for f in FILES.values()], speed=speed)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def servers():
    fast, paced = Server(None), Server(60.0)
    yield {"fast": fast.server.url, "paced": paced.server.url}
    fast.close()
    paced.close()


def run(tmp: Path, session: str, feed: str, *, crash_at=None, kill_after=None) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    env.pop("NZEZA_CRASH_AT", None)
    if crash_at:
        env["NZEZA_CRASH_AT"] = crash_at
    cmd = [
        sys.executable, "-m", "nzeza.cli", "paper", "cross_sectional_momentum",
        "--symbol", "BTCUSDT,ETHUSDT", "--feed", feed, "--timeframe", "5s",
        "--params", *PARAMS, "--session-id", session,
        "--ledger", f"sqlite:///{tmp / 'ledger.sqlite'}", "--venue-db", str(tmp / "venue.sqlite"),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    if proc.returncode not in (0, 137, -9):
        raise AssertionError(f"session failed ({proc.returncode}):\n{out}\n{err}")
    return proc.returncode, out


def ledger_state(tmp: Path, session: str) -> dict:
    with Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}") as led:
        fills = led.fills(session)
        intents = led.intents(session)
        return {
            "fills": [
                (f.instrument_id, f.side.value, f.quantity, f.price, f.fee, f.ts) for f in fills
            ],
            "trade_ids": [f.trade_id for f in fills],
            "intents": [
                (i["seq"], i["instrument_id"], i["side"], i["quantity"], i["bar_ts"], i["status"])
                for i in intents
            ],
            "positions": {k: v["quantity"] for k, v in led.positions(session).items()},
            "balances": led.balances(session),
            "equity": led.equity_curve(session)[-1],
            "audit": led.verify_audit().ok,
        }


def venue_orders(tmp: Path) -> list[str]:
    with sqlite3.connect(tmp / "venue.sqlite") as db:
        return [r[0] for r in db.execute("SELECT client_order_id FROM orders")]


def test_kill_mid_session_and_resume_gives_the_uninterrupted_ledger(tmp_path, servers) -> None:
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    code, out = run(ref_dir, "ref", servers["fast"])
    assert code == 0 and "BTCUSDT, ETHUSDT" in out
    reference = ledger_state(ref_dir, "ref")
    assert len(reference["fills"]) > 15
    assert {f[0] for f in reference["fills"]} == {"paper:BTC/USDT", "paper:ETH/USDT"}
    work = tmp_path / "crashy"
    work.mkdir()
    # each point kills the process like kill -9; the counts are per process, so a point hit
    # early in one run lands later in the session's life after each restart. after_fill:2 and
    # after_journal:3 land inside a rebalance that sells one symbol to buy the other
    points = ["after_fill:2", "after_journal:3", "after_submit:2", "after_bar:7",
              "after_fill:1", "after_journal:1"]  # fmt: skip
    for point in points:
        code, _ = run(work, "crashy", servers["fast"], crash_at=point)
        assert code == 137, f"{point} did not crash (exit {code})"
    rng = random.Random(17)
    kills = 0
    for _ in range(2):  # SIGKILL from outside while it trades (the paced server: ~6 s a run)
        code, _ = run(work, "crashy", servers["paced"], kill_after=rng.uniform(1.5, 3.0))
        kills += code in (-9, 137)
    assert kills >= 1
    code, out = run(work, "crashy", servers["fast"])
    assert code == 0 and "resuming" in out
    got = ledger_state(work, "crashy")
    # the same fills, in order (none lost, none extra), the same intents, positions, cash, equity
    assert got["fills"] == reference["fills"]
    assert len(set(got["trade_ids"])) == len(got["trade_ids"])
    assert got["intents"] == reference["intents"]
    assert got["positions"] == reference["positions"]
    assert got["balances"] == reference["balances"]
    assert got["equity"] == reference["equity"]
    assert got["audit"]
    # zero duplicate orders: one venue order per sent intent
    orders = venue_orders(work)
    sent = [i[0] for i in got["intents"] if i[5] != "rejected"]
    assert len(orders) == len(set(orders)) == len(sent) == len(got["fills"])


def test_cli_refusals_are_typed_and_name_the_flag(tmp_path, capsys, monkeypatch) -> None:
    from nzeza.cli import main

    monkeypatch.chdir(tmp_path)
    ledger = f"sqlite:///{tmp_path / 'l.sqlite'}"
    cases = [
        (["paper", "cross_sectional_momentum", "--symbol", "BTCUSDT"], "two or more"),
        (["paper", "sma_cross", "--symbol", "BTCUSDT,ETHUSDT"], "one symbol"),
        (["paper", "cross_sectional_momentum", "--feed", "capture:binance_btcusdt"], "--feed"),
        (["paper", "cross_sectional_momentum", "--symbol", "ETHUSDT,BTCUSDT"], "holds"),
        (["live", "cross_sectional_momentum", "--confirm", "x"], "not promoted to live"),
    ]
    for args, words in cases:
        capsys.readouterr()
        code = main([*args, "--ledger", ledger])
        err = capsys.readouterr().err
        assert code == 2 and words in err and "Traceback" not in err, (args, err)


def test_the_daily_loss_breaker_flattens_every_position_and_refuses_new_risk(tmp_path) -> None:
    cfg = session_config("dl", risk=RiskSettings(max_daily_loss="0.3%"))
    cfg.strategy = CrossSectionalMomentum(lookback=4, rebalance=1, absolute=False)
    cfg.params = dict(cfg.strategy.params)
    report, _ = asyncio.run(run_in_process(tmp_path, cfg))
    assert report.flattened == 1
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        events = led.risk_events("dl")
        trip = [e for e in events if "breaker tripped: flattening 1 position(s)" in e["detail"]]
        assert len(trip) == 1
        fills = led.fills("dl")
        intents = led.intents("dl")
        # the flatten is the session's last fill (it leaves every position at 0): what the
        # strategy asked after it was refused by the breaker, journaled as rejected, never sent
        flatten = next(i for i in intents if i["client_order_id"] == fills[-1].order_id)
        later = [i for i in intents if i["seq"] > flatten["seq"]]
        assert later and all(i["status"] == "rejected" for i in later)
        refused = [
            e for e in events if e["check_name"] == "daily_loss" and "refused" in e["detail"]
        ]
        assert len(refused) == len(later)
        assert all(q["quantity"] == 0 for q in led.positions("dl").values())


def _trades_before(ts_ns: int) -> int:
    """How many trades of the merged feed come before exchange time `ts_ns`."""

    async def count() -> int:
        feeds = {s: capture_trades([bundled(f)], s) for s, f in FILES.items()}
        return sum([1 async for _, t in merge_trades(feeds) if (t.ts_ns or 0) < ts_ns])

    return asyncio.run(count())


def test_a_resumed_session_keeps_the_days_loss_and_trips_where_an_uninterrupted_one_does(
    tmp_path,
) -> None:
    """The attack: stop a losing session just before its daily-loss breaker trips and resume
    it. The breaker must go on from the day's baseline in the ledger, not from the loss-making
    position as it stood at the restart (which would let the day lose the limit again)."""

    def cfg(sid: str):
        c = session_config(sid, risk=RiskSettings(max_daily_loss="0.3%"))
        c.strategy = CrossSectionalMomentum(lookback=4, rebalance=1, absolute=False)
        c.params = dict(c.strategy.params)
        return c

    (tmp_path / "ref").mkdir()
    asyncio.run(run_in_process(tmp_path / "ref", cfg("ref")))
    with Ledger(f"sqlite:///{tmp_path / 'ref' / 'ledger.sqlite'}") as led:
        ref_trip = [e["ts"] for e in led.risk_events("ref") if "breaker tripped:" in e["detail"]]
        ref_fills = [(f.instrument_id, f.side, f.quantity, f.price) for f in led.fills("ref")]
    assert len(ref_trip) == 1
    # stopped inside the bar whose close trips it (its losing orders made), then resumed to
    # the end of the feed: that close comes after the restart
    (tmp_path / "split").mkdir()
    first, _ = asyncio.run(
        run_in_process(tmp_path / "split", cfg("ref"), limit=_trades_before(ref_trip[0] + 2 * S))
    )
    assert first.flattened == 0 and first.fills > 0
    report, _ = asyncio.run(run_in_process(tmp_path / "split", cfg("ref")))
    assert report.resumed and report.flattened == 1
    with Ledger(f"sqlite:///{tmp_path / 'split' / 'ledger.sqlite'}") as led:
        trip = [e["ts"] for e in led.risk_events("ref") if "breaker tripped:" in e["detail"]]
        fills = [(f.instrument_id, f.side, f.quantity, f.price) for f in led.fills("ref")]
    assert trip == ref_trip and fills == ref_fills


def test_a_resumed_session_keeps_its_order_rate_window(tmp_path) -> None:
    """The order-rate window is rebuilt from the ledger: an order right after the restart
    counts the ones sent just before it (the resumed gate refuses what the running one would)."""
    from nzeza.engine.portfolio_risk import PortfolioRiskGate, portfolio_risk_config
    from nzeza.engine.recovery import rebuild

    asyncio.run(run_in_process(tmp_path, session_config("rate"), limit=3000))
    one = RiskSettings(max_orders_per_second=1, max_daily_loss="off")
    cfg = session_config("rate")
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        fills = led.fills("rate")
        assert fills
        last = max(f.ts for f in fills)
        portfolio = rebuild(led, "rate", list(cfg.instruments.values())).portfolio
        prices = {s: fills[-1].price for s in cfg.instruments}

        def gate(restored: bool) -> PortfolioRiskGate:
            g = PortfolioRiskGate(
                cfg.instruments, portfolio, config=portfolio_risk_config(one), costs=COSTS,
                ledger=led, session_id="rate",
            )  # fmt: skip
            if restored:
                g.restore(cfg.init_cash, led.session("rate")["last_bar_ts"])
            return g

        def verdict(g: PortfolioRiskGate, at: int):
            return g.decide("BTCUSDT", "sell", Decimal("0.00001"), prices, at)

        fresh = verdict(gate(False), last + S // 2)
        refused = verdict(gate(True), last + S // 2)
        later = verdict(gate(True), last + 2 * S)
    assert fresh.quantity > 0  # the window forgotten: accepted
    assert refused.quantity == 0 and "order_rate" in (refused.reason or "")
    assert later.quantity > 0  # one window later: accepted again
