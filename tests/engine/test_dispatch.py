"""The risk gate's decisions are executed: an order above NZEZA_RISK__MAX_ORDER_NOTIONAL goes
out as TWAP children (or one amended order) each within the limit, stops and trailing stops
close positions, the daily-loss breaker flattens. Before, a CLI session ran with every limit
off and an AMEND/TWAP/flatten decision was dropped in favour of the original order."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from support.toy_strategies import SmaLike

from nzeza.store import Ledger
from nzeza.store import schema as s

ROOT = Path(__file__).resolve().parents[2]
LIMIT = Decimal(1000)


def paper_cli(tmp: Path, sid: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    full["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    full.update(env)
    cmd = [sys.executable, "-m", "nzeza.cli", "paper", "--strategy"]
    cmd += ["support.toy_strategies:SmaLike", "--params", "short=true", "--session-id", sid]
    cmd += ["--ledger", f"sqlite:///{tmp / 'ledger.sqlite'}", "--venue-db", str(tmp / "v.sqlite")]
    return subprocess.run(
        [*cmd, *args], cwd=tmp, env=full, capture_output=True, text=True, timeout=300
    )


def notional_per_order(ledger: Ledger, sid: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for fill in ledger.fills(sid):
        out[fill.order_id] += fill.quantity * fill.price
    return out


@pytest.mark.parametrize("how", ["twap", "amend"])
def test_max_order_notional_from_the_environment_bounds_every_filled_order(tmp_path, how):
    env = {"NZEZA_RISK__MAX_ORDER_NOTIONAL": str(LIMIT)}
    if how == "amend":
        env["NZEZA_RISK__ON_BREACH"] = "amend"
    out = paper_cli(tmp_path, "capped", "--cash", "10000", "--timeframe", "5s", **env)
    assert out.returncode == 0, out.stderr
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        per_order = notional_per_order(led, "capped")
        events = led.risk_events("capped")
        intents = led.intents("capped")
        audit = [r["kind"] for r in led.audit_rows("capped")]
        config = json.loads(led.session("capped")["config"])
        assert led.verify_audit().ok
    assert per_order, "the session traded"
    biggest = max(per_order.values())
    assert biggest <= LIMIT, f"an order filled {biggest} > {LIMIT}"
    assert {e["check_name"] for e in events} == {"max_order_notional"}
    assert config["risk"]["max_order_notional"] == "1000"
    # without the limit the same session's orders are ~10,000-20,000 each
    if how == "twap":
        assert "twap_started" in audit and "twap_ended" in audit
        assert all("TWAP of" in e["detail"] for e in events)
        # many children per decision, each its own journaled intent
        assert len(intents) > 3 * len(events)
        assert biggest > LIMIT * Decimal("0.9")  # children are sized up to the limit
    else:
        assert all("amended to" in e["detail"] for e in events)
        assert "twap_started" not in audit
        assert len(intents) == len(per_order) == len(events)


def test_without_a_limit_set_the_defaults_do_not_bind_a_10000_account(tmp_path):
    """The defaults are on but sized from equity: the same session, no settings, trades its
    full size (flips of ~200% of equity) with no risk event."""
    out = paper_cli(tmp_path, "free", "--cash", "10000", "--timeframe", "5s")
    assert out.returncode == 0, out.stderr
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        per_order = notional_per_order(led, "free")
        assert led.risk_events("free") == []
        rec = json.loads(led.session("free")["config"])["risk"]
    assert max(per_order.values()) > Decimal(15_000)  # a flip: short 100% → long 100%
    assert rec["max_order_notional"] == "250%" and rec["max_daily_loss"] == "5%"


# -- in process: TWAP completion, stops, the daily-loss flatten -------------------------------
COSTS_ = None


def run_session(tmp: Path, sid: str, limit: int | None = None, **risk) -> tuple:
    from nzeza.domain import Costs
    from nzeza.engine.runner import session_instrument
    from nzeza.engine.session import Session, SessionConfig
    from nzeza.engine.sources import capture_trades
    from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
    from nzeza.ops.risksettings import RiskSettings
    from nzeza.venues.paper.durable import DurablePaperVenue

    costs = Costs(0.001, 0.0005)
    inst = session_instrument("BTCUSDT")
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
    venue = DurablePaperVenue(tmp / f"{sid}-venue.sqlite", [inst], costs)
    cfg = SessionConfig(
        sid,
        SmaLike(short=True),
        "smalike",
        {},
        inst,
        costs,
        Decimal(10_000),
        5_000_000_000,
        risk=RiskSettings(**risk),
    )
    session = Session(cfg, ledger, venue)
    paths = [bundled(n) for n in BINANCE_BTCUSDT]

    async def trades():  # the first `limit` trades (all: None), from where a resume starts
        n = 0
        async for trade in capture_trades(paths, "BTCUSDT", from_ns=session.resume_from_ns()):
            if limit is not None and n >= limit:
                return
            n += 1
            yield trade

    report = asyncio.run(session.run(trades()))
    asyncio.run(venue.close())
    return report, ledger, inst


def positions_after(ledger: Ledger, sid: str) -> dict[str, Decimal]:
    """The position after the last fill of each order, in fill order."""
    pos, out = Decimal(0), {}
    for f in ledger.fills(sid):
        pos += f.quantity if f.side.value == "buy" else -f.quantity
        out[f.order_id] = pos
    return out


def audit(ledger: Ledger, sid: str, after_seq: int = 0) -> list[tuple[str, dict]]:
    """The session's story in chain order: its own audit events (stops, flattens, TWAPs…) and,
    from the chain's `rows` entries, each intent and fill row as it was written (intents and
    fills are on the chain as row digests, not as events of their own)."""
    intents = {(i["id"],): i["client_order_id"] for i in ledger.intents(sid)}
    with ledger.engine.connect() as conn:
        fills = {
            (r.id,): r.client_order_id
            for r in conn.execute(
                select(s.fills.c.id, s.fills.c.client_order_id).where(s.fills.c.session_id == sid)
            )
        }
    out: list[tuple[str, dict]] = []
    for r in ledger.audit_rows():
        if r["seq"] <= after_seq:
            continue
        if r["kind"] != "rows":
            if r["session_id"] == sid:
                out.append((r["kind"], json.loads(r["payload"])))
            continue
        written = json.loads(r["payload"])
        for table, kind, ids in (("intents", "intent", intents), ("fills", "fill", fills)):
            for row_id, _digest in written.get(table, {}).get("i", []):
                if (row_id,) in ids:
                    out.append((kind, {"client_order_id": ids[(row_id,)]}))
    return out


def test_twap_children_complete_each_parent_within_the_limit(tmp_path) -> None:
    report, ledger, _ = run_session(tmp_path, "tw", max_order_notional="1000")
    rows = audit(ledger, "tw")
    started = [p for k, p in rows if k == "twap_started" and p["round"] == 1]
    ended = [p for k, p in rows if k == "twap_ended"]
    assert report.twaps == len(started) > 0 and report.twap_children > 2 * report.twaps
    complete = [p for p in ended if p["reason"] == "complete"]
    assert complete, ended
    for p in complete:  # what was asked for was filled, to the lot
        assert Decimal(p["requested"]) - Decimal(p["filled"]) < Decimal("0.0001")
    assert max(notional_per_order(ledger, "tw").values()) <= LIMIT
    ledger.close()


@pytest.mark.parametrize("stop", ["stop_loss", "trailing_stop"])
def test_a_stop_closes_the_position_with_a_reduce_only_order(tmp_path, stop) -> None:
    # 15 bps: beyond the 5 bps a market entry pays, within what BTC moves in the capture
    report, ledger, _ = run_session(tmp_path, stop, **{stop: "0.0015"})
    rows = audit(ledger, stop)
    assert report.stops_triggered > 0
    assert {e["check_name"] for e in ledger.risk_events(stop)} == {stop}
    after = positions_after(ledger, stop)
    # the intent journaled right after each trigger is the closing order: flat once it filled
    closing = [
        rows[i + 1][1]["client_order_id"]
        for i, (kind, _) in enumerate(rows[:-1])
        if kind == "stop_triggered" and rows[i + 1][0] == "intent"
    ]
    assert len(closing) == report.stops_triggered
    assert all(after[cid] == 0 for cid in closing)
    ledger.close()


def test_without_stops_configured_nothing_is_stopped(tmp_path) -> None:
    report, ledger, _ = run_session(tmp_path, "nostop")
    assert report.stops_triggered == 0 and ledger.risk_events("nostop") == []
    ledger.close()


def test_the_daily_loss_breaker_flattens_and_blocks_new_risk(tmp_path) -> None:
    """0.05% of 10,000 = 5 USDT: the first round of fees trips it. The capture crosses UTC
    midnight, so the breaker re-arms on the new day, trades again, and trips again."""
    report, ledger, inst = run_session(tmp_path, "dl", max_daily_loss="0.05%")
    events = [e for e in ledger.risk_events("dl") if e["check_name"] == "daily_loss"]
    trips = [e for e in events if "flattening 1 position(s)" in e["detail"]]
    rows = audit(ledger, "dl")
    assert report.flattened == len(trips) == [k for k, _ in rows].count("flatten") == 2
    days = {e["ts"] // 86_400_000_000_000 for e in trips}
    assert len(days) == 2  # one trip per UTC day
    # the order right after each flatten closed the position
    after = positions_after(ledger, "dl")
    closing = [
        rows[i + 1][1]["client_order_id"]
        for i, (kind, _) in enumerate(rows[:-1])
        if kind == "flatten" and rows[i + 1][0] == "intent"
    ]
    assert len(closing) == 2 and all(after[cid] == 0 for cid in closing)
    # while tripped, every risk-increasing decision was refused by daily_loss
    assert report.rejected == len(events) - len(trips) > 0
    assert all(e["detail"] == "breaker tripped" for e in events if e not in trips)
    assert ledger.positions("dl")[inst.id]["quantity"] == 0
    ledger.close()


def test_stops_are_armed_again_on_the_recovered_position_after_a_restart(tmp_path) -> None:
    """The first run ends right after its first fill (position open, stop armed, not hit);
    the second, resumed, must guard that position from its first trade — before it trades."""
    from nzeza.domain import Costs
    from nzeza.engine.runner import session_instrument
    from nzeza.engine.session import Session, SessionConfig
    from nzeza.engine.sources import capture_trades
    from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled
    from nzeza.ops.risksettings import RiskSettings
    from nzeza.venues.paper.durable import DurablePaperVenue

    costs = Costs(0.001, 0.0005)
    inst = session_instrument("BTCUSDT")
    paths = [bundled(n) for n in BINANCE_BTCUSDT]
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")

    def session() -> tuple[Session, DurablePaperVenue]:
        venue = DurablePaperVenue(tmp_path / "venue.sqlite", [inst], costs)
        cfg = SessionConfig(
            "rearm",
            SmaLike(short=True),
            "smalike",
            {},
            inst,
            costs,
            Decimal(10_000),
            5_000_000_000,
            risk=RiskSettings(stop_loss="0.0015"),
        )
        return Session(cfg, ledger, venue), venue

    first, venue = session()

    async def until_first_fill():
        async for trade in capture_trades(paths, "BTCUSDT"):
            yield trade
            if first.report.fills:
                return

    asyncio.run(first.run(until_first_fill()))
    asyncio.run(venue.close())
    assert first.report.fills == 1 and first.report.stops_triggered == 0
    seq_before = max(r["seq"] for r in ledger.audit_rows())
    second, venue = session()
    report = asyncio.run(
        second.run(capture_trades(paths, "BTCUSDT", from_ns=second.resume_from_ns()))
    )
    asyncio.run(venue.close())
    kinds = [kind for kind, _ in audit(ledger, "rearm", after_seq=seq_before)]
    assert report.resumed and report.stops_triggered > 0
    assert kinds.index("stop_triggered") < kinds.index("fill")  # guarded before it traded
    ledger.close()


def test_a_resumed_session_keeps_the_days_loss_and_trips_where_an_uninterrupted_one_does(
    tmp_path,
) -> None:
    """The attack: stop a losing session inside the bar whose close trips its daily-loss
    breaker and resume it. The breaker goes on from the day's baseline in the ledger (before: it
    took the loss-making position at the restart as its new baseline and tripped late)."""
    from nzeza.engine.sources import capture_trades
    from nzeza.feeds.capture import BINANCE_BTCUSDT, bundled

    (tmp_path / "ref").mkdir()
    _, ref, _ = run_session(tmp_path / "ref", "dl", max_daily_loss="0.05%")
    ref_trips = [e["ts"] for e in ref.risk_events("dl") if "breaker tripped:" in e["detail"]]
    ref_fills = [(f.side, f.quantity, f.price) for f in ref.fills("dl")]
    ref.close()
    assert len(ref_trips) == 2
    paths = [bundled(n) for n in BINANCE_BTCUSDT]

    async def count() -> int:
        return sum([1 async for t in capture_trades(paths, "BTCUSDT") if t.ts_ns < stop_at])

    stop_at = ref_trips[0] + 2_000_000_000  # inside the bar whose close trips it
    limit = asyncio.run(count())
    (tmp_path / "split").mkdir()
    first, led, _ = run_session(tmp_path / "split", "dl", limit=limit, max_daily_loss="0.05%")
    assert first.flattened == 0 and first.fills > 0
    led.close()
    report, led, _ = run_session(tmp_path / "split", "dl", max_daily_loss="0.05%")
    trips = [e["ts"] for e in led.risk_events("dl") if "breaker tripped:" in e["detail"]]
    fills = [(f.side, f.quantity, f.price) for f in led.fills("dl")]
    led.close()
    assert report.resumed and trips == ref_trips and fills == ref_fills
