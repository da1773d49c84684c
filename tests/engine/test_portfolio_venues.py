"""A portfolio session across several venues (issue 17): BTCUSDT on a paper venue named
`binance`, ETHUSDT on one named `kraken`, each its own durable paper venue and cash account;
the strategy's weights are of the total equity, a buy is limited by its own venue's cash; a
session stopped mid-feed and resumed ends with the uninterrupted run's ledger and accounts."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from nzeza.domain import Costs
from nzeza.engine.aligned import merge_trades
from nzeza.engine.portfolio_runner import named_paper_venue, venue_db_path, venue_symbols
from nzeza.engine.portfolio_session import PortfolioSession, PortfolioSessionConfig
from nzeza.engine.runner import session_instrument
from nzeza.engine.sources import capture_trades
from nzeza.errors import ValidationError
from nzeza.feeds.capture import bundled
from nzeza.store import Ledger
from nzeza.strategies import CrossSectionalMomentum

FILES = {
    "BTCUSDT": "binance_spot_btcusdt_20240808.jsonl.gz",
    "ETHUSDT": "binance_spot_ethusdt_20240808.jsonl.gz",
}
VENUES = {"BTCUSDT": "binance", "ETHUSDT": "kraken"}
COSTS = Costs(0.001, 0.0005)
CASH = Decimal(10_000)
S = 1_000_000_000


def config(session_id: str) -> PortfolioSessionConfig:
    instruments = {s: session_instrument(s, VENUES[s]) for s in FILES}
    # top 1 of 2 fully invested: every switch asks for 100 % of the total equity on one venue,
    # which only half of the cash is on
    strategy = CrossSectionalMomentum(lookback=6, rebalance=1, absolute=False)
    return PortfolioSessionConfig(
        session_id, strategy, "cross_sectional_momentum", dict(strategy.params), instruments,
        COSTS, CASH, 5 * S, record={"feed": "test"}, risk=None,
    )  # fmt: skip


async def _first(trades, n):
    i = 0
    async for item in trades:
        if i >= n:
            return
        yield item
        i += 1


async def run(tmp: Path, sid: str, limit: int | None = None, url: str | None = None):
    """The session `sid` over both captures (the first `limit` trades), its ledger at `url`
    (default: SQLite in `tmp`), the venues' files in `tmp`."""
    cfg = config(sid)
    ledger = Ledger(url or f"sqlite:///{tmp / 'ledger.sqlite'}")
    venues = {
        name: named_paper_venue(
            tmp / f"{name}.sqlite",
            [i for i in cfg.instruments.values() if i.venue == name],
            COSTS,
            name,
        )
        for name in cfg.venue_names
    }
    try:
        session = PortfolioSession(cfg, ledger, venues)
        start = session.resume_from_ns()
        feeds = {s: capture_trades([bundled(f)], s, from_ns=start) for s, f in FILES.items()}
        trades = merge_trades(feeds)
        if limit is not None:
            trades = _first(trades, limit)
        report = await session.run(trades)
        return report, session
    finally:
        for v in venues.values():
            await v.close()
        ledger.close()


def venue_fills(path: Path) -> set[str]:
    """The instruments a paper venue's own file holds trades of."""
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT DISTINCT instrument_id FROM trades")}


def ledger_fill_venues(tmp: Path, sid: str) -> dict[str, set[str]]:
    from nzeza.store import schema as s

    with Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}") as led, led._read() as conn:
        rows = conn.execute(select(s.fills).where(s.fills.c.session_id == sid)).fetchall()
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r.venue, set()).add(r.instrument_id)
    return out


def test_each_symbol_trades_on_its_own_venue_from_its_own_cash(tmp_path) -> None:
    report, session = asyncio.run(run(tmp_path, "two"))
    assert report.fills > 10
    # each venue's orders reached its own paper venue, and the ledger says which venue
    assert venue_fills(tmp_path / "binance.sqlite") == {"binance:BTC/USDT"}
    assert venue_fills(tmp_path / "kraken.sqlite") == {"kraken:ETH/USDT"}
    assert ledger_fill_venues(tmp_path, "two") == {
        "binance": {"binance:BTC/USDT"},
        "kraken": {"kraken:ETH/USDT"},
    }
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        row = led.session("two")
        fills = led.fills("two")
    assert json.loads(row["config"])["venues"] == VENUES
    assert row["venue"] == "binance+kraken"
    # each account: its half of the cash and its own fills only; never below zero, so no buy
    # spent the other venue's cash (the attack: sized on the total cash, binance goes negative)
    cash = {"binance": CASH / 2, "kraken": CASH / 2}
    venue_of = {"binance:BTC/USDT": "binance", "kraken:ETH/USDT": "kraken"}
    for f in fills:
        v = venue_of[f.instrument_id]
        notional = f.quantity * f.price
        cash[v] += -notional - f.fee if f.side == "buy" else notional - f.fee
        assert cash[v] >= -Decimal("1e-6"), (v, cash[v])
    accounts = session.accounts
    for v, account in accounts.items():  # (Decimal's 28 digits: the same sums, regrouped)
        assert abs(account.snapshot().cash - cash[v]) < Decimal("1e-12")
    # equity is the sum of both accounts at the last prices
    marks = {i.id: session.prices[s] for s, i in session.cfg.instruments.items()}

    def equity(snap) -> Decimal:
        return snap.cash + sum(
            (snap.position(i).quantity * p for i, p in marks.items() if i in snap.positions),
            Decimal(0),
        )

    total = sum((equity(a.snapshot()) for a in accounts.values()), Decimal(0))
    assert report.final_equity == total
    assert session.portfolio.snapshot().cash == sum(
        (a.snapshot().cash for a in accounts.values()), Decimal(0)
    )
    # a switch to one symbol asks for ~100 % of the total: bought with that venue's cash only
    held = [
        snap.position(i).quantity * marks[i]
        for snap in (a.snapshot() for a in accounts.values())
        for i in marks
        if i in snap.positions and snap.position(i).quantity
    ]
    assert held and max(held) < total * Decimal("0.75")


def test_a_stopped_and_resumed_session_rebuilds_every_venues_account(tmp_path) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "split").mkdir()
    ref, ref_session = asyncio.run(run(tmp_path / "ref", "rs"))
    first, _ = asyncio.run(run(tmp_path / "split", "rs", limit=4000))
    assert 0 < first.fills < ref.fills
    report, session = asyncio.run(run(tmp_path / "split", "rs"))
    assert report.resumed
    with Ledger(f"sqlite:///{tmp_path / 'ref' / 'ledger.sqlite'}") as led:
        want = [(f.instrument_id, f.side, f.quantity, f.price) for f in led.fills("rs")]
    with Ledger(f"sqlite:///{tmp_path / 'split' / 'ledger.sqlite'}") as led:
        got = [(f.instrument_id, f.side, f.quantity, f.price) for f in led.fills("rs")]
    assert got == want
    assert {v: a.snapshot() for v, a in session.accounts.items()} == {
        v: a.snapshot() for v, a in ref_session.accounts.items()
    }
    assert report.final_equity == ref.final_equity
    assert ledger_fill_venues(tmp_path / "split", "rs") == ledger_fill_venues(
        tmp_path / "ref", "rs"
    )


def test_resuming_on_other_venues_is_refused(tmp_path, monkeypatch) -> None:
    """The attack: restart a session with its symbols moved to other venues (the accounts and
    the venue files would no longer be the ones its ledger describes)."""
    asyncio.run(run(tmp_path, "mv", limit=2000))
    monkeypatch.setitem(VENUES, "ETHUSDT", "bitstamp")
    with pytest.raises(ValidationError) as err:
        asyncio.run(run(tmp_path, "mv"))
    assert err.value.field == "session_id" and "venues" in err.value.reason


def test_venue_symbols_parse_and_refuse_with_the_flag_named() -> None:
    assert venue_symbols(["binance:BTCUSDT", "ETHUSDT"]) == [
        ("binance", "BTCUSDT"),
        ("paper", "ETHUSDT"),
    ]
    for bad in (["binance:BTCUSDT", "kraken:BTCUSDT"], ["Bad Venue:BTCUSDT"], ["kraken:"]):
        with pytest.raises(ValidationError) as err:
            venue_symbols(bad)
        assert err.value.field == "--symbol"
    base = Path("runs/paper-venue.sqlite")
    assert venue_db_path(base, "paper") == base
    assert venue_db_path(base, "kraken") == Path("runs/paper-venue-kraken.sqlite")


def test_several_venues_need_an_adapter_each(tmp_path) -> None:
    cfg = config("miss")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    only = named_paper_venue(tmp_path / "b.sqlite", [cfg.instruments["BTCUSDT"]], COSTS, "binance")
    try:
        for venue in (only, {"binance": only}):
            with pytest.raises(ValidationError) as err:
                PortfolioSession(cfg, ledger, venue)
            assert err.value.field == "venue"
    finally:
        asyncio.run(only.close())
        ledger.close()
    assert cfg.venue_cash() == {"binance": CASH / 2, "kraken": CASH / 2}


# -- the CLI, killed for real ------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def cli(tmp: Path, sid: str, crash_at: str | None = None) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    env.pop("NZEZA_CRASH_AT", None)
    if crash_at:
        env["NZEZA_CRASH_AT"] = crash_at
    cmd = [
        sys.executable, "-m", "nzeza.cli", "paper", "cross_sectional_momentum",
        "--symbol", "binance:BTCUSDT,kraken:ETHUSDT",
        "--feed", "capture:binance_btcusdt,binance_ethusdt", "--timeframe", "5s",
        "--params", "lookback=6", "rebalance=1", "absolute=false", "--session-id", sid,
        "--ledger", f"sqlite:///{tmp / 'ledger.sqlite'}", "--venue-db", str(tmp / "venue.sqlite"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode not in (0, 137, -9):
        raise AssertionError(f"session failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode, proc.stdout


def state(tmp: Path, sid: str) -> dict:
    with Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}") as led:
        return {
            "fills": [
                (f.instrument_id, f.side, f.quantity, f.price, f.fee) for f in led.fills(sid)
            ],
            "positions": {k: v["quantity"] for k, v in led.positions(sid).items()},
            "balances": led.balances(sid),
            "equity": led.equity_curve(sid)[-1],
            "venues": ledger_fill_venues(tmp, sid),
        }


def test_cli_session_on_two_venues_killed_and_resumed_ends_as_an_uninterrupted_one(
    tmp_path,
) -> None:
    (tmp_path / "ref").mkdir()
    code, out = cli(tmp_path / "ref", "cv")
    assert code == 0 and "binance:BTC/USDT, kraken:ETH/USDT" in out and "cash per venue" in out
    want = state(tmp_path / "ref", "cv")
    assert want["venues"] == {"binance": {"binance:BTC/USDT"}, "kraken": {"kraken:ETH/USDT"}}
    work = tmp_path / "crashy"
    work.mkdir()
    for point in ("after_fill:2", "after_journal:3", "after_submit:2"):
        code, _ = cli(work, "cv", crash_at=point)
        assert code == 137, f"{point} did not crash (exit {code})"
    code, out = cli(work, "cv")
    assert code == 0 and "resuming" in out
    assert state(work, "cv") == want
    # one order per venue file for each fill of its symbol: none sent twice after a crash
    for name, inst in (("binance", "binance:BTC/USDT"), ("kraken", "kraken:ETH/USDT")):
        with sqlite3.connect(work / f"venue-{name}.sqlite") as db:
            orders = [r[0] for r in db.execute("SELECT client_order_id FROM orders")]
        assert len(orders) == len(set(orders)) == sum(f[0] == inst for f in want["fills"])


def test_a_live_session_with_a_venue_per_symbol_is_refused_before_any_gate(tmp_path) -> None:
    """Several venues are paper only: `VENUE:SYMBOL` in live is refused before the live
    check runs (which would otherwise bind the symbols to the one live venue)."""
    from nzeza.engine.portfolio_runner import open_portfolio_session
    from nzeza.engine.runner import SessionPlan
    from nzeza.ops.settings import load_settings

    settings = load_settings(require_live=False, runs_dir=str(tmp_path / "runs"))
    strategy = CrossSectionalMomentum(lookback=6, rebalance=1, absolute=False)
    plan = SessionPlan(
        "live", strategy, "cross_sectional_momentum", dict(strategy.params), COSTS, "5s",
        symbol="binance:BTCUSDT,kraken:ETHUSDT", session_id="lv",
        ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite'}",
    )  # fmt: skip
    checked: list[str] = []

    async def go() -> None:
        async with open_portfolio_session(plan, settings, lambda *a: checked.append("x")):
            pass

    with pytest.raises(ValidationError) as err:
        asyncio.run(go())
    assert err.value.field == "--symbol" and "one venue" in err.value.reason
    assert checked == []
