"""The paper gate of a perpetual: a paper session at 3× that books funding is measured against
`backtest_perp`'s rule on its bars with its leverage and the funding it booked (not the spot
backtest, which a perpetual above 1× never matches); a tampered funding row or a venue slipping
5× is refused with the reason; `nzeza divergence` prints the funding and liquidations."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from support.perp_cases import START, LongShort

from nzeza.domain import Costs, Perpetual
from nzeza.engine.perp import FundingEvent
from nzeza.engine.runner import session_instrument, session_record
from nzeza.engine.session import Session, SessionConfig
from nzeza.engine.sources import capture_trades
from nzeza.promotion.binding import perp_record
from nzeza.promotion.divergence import divergence
from nzeza.promotion.paper_gate import paper_gate
from nzeza.promotion.policy import GatePolicy
from nzeza.store import Ledger
from nzeza.venues.paper.durable import DurablePaperVenue

ROOT = Path(__file__).resolve().parents[2]
D = Decimal
TF = 3_600_000_000_000
S = 1_000_000_000
T0 = START.value
COSTS = Costs(0.0005, 0.0002)
LEVERAGE = 3
CASH = 10_000
PRICES = [50_000, 50_400, 50_900, 50_600, 51_200, 51_000, 50_300, 49_800, 50_100, 49_500,
          49_200, 49_600, 49_900, 50_000, 50_050]  # fmt: skip


def perp() -> Perpetual:
    inst = session_instrument("BTCUSDT")
    return Perpetual(
        inst.venue, inst.symbol, inst.base, inst.quote, inst.tick_size, inst.lot_size,
        inst.min_qty, inst.min_notional, max_leverage=D(20), funding_interval_hours=1,
    )  # fmt: skip


def write_capture(path: Path) -> None:
    """Three Binance trades a bar (at +1 s, +10 min, +30 min) over 15 hourly bars."""
    lines, n = [], 0
    for bar, price in enumerate(PRICES):
        for k, offset in enumerate((1, 600, 1800)):
            n += 1
            ts = T0 + bar * TF + offset * S
            p = price + 20 * k
            data = {"e": "trade", "E": ts // 10**6, "s": "BTCUSDT", "t": n, "p": f"{p}.00",
                    "q": "0.500", "T": ts // 10**6, "m": False}  # fmt: skip
            lines.append(f"{ts} {json.dumps({'stream': 'btcusdt@trade', 'data': data})}")
    path.write_text("\n".join(lines) + "\n")


def funding_events() -> list[FundingEvent]:
    """A funding time 20 minutes into every bar (after the bar's order has filled)."""
    rates = ("0.0001", "-0.00005", "0.0002")
    return [
        FundingEvent(T0 + bar * TF + 1200 * S, D(rates[bar % 3]), D(PRICES[bar] + 10))
        for bar in range(len(PRICES) - 1)
    ]


async def stream(capture: Path):
    pending = funding_events()
    async for trade in capture_trades([capture], "BTCUSDT"):
        while pending and pending[0].ts <= trade.ts_ns:
            yield pending.pop(0)
        yield trade


def run_session(tmp: Path, sid: str, venue_costs: Costs = COSTS) -> str:
    """A 3× paper session over the capture, its funding events in the stream; the ledger URL."""
    capture = tmp / "tape.jsonl"
    if not capture.exists():
        write_capture(capture)
    url = f"sqlite:///{tmp / 'ledger.sqlite'}"
    spec = perp()
    ledger = Ledger(url)
    venue = DurablePaperVenue(tmp / f"{sid}-venue.sqlite", [spec], venue_costs)
    cfg = SessionConfig(
        sid, LongShort(), "long_short", {}, spec, COSTS, D(CASH), TF, risk=None,
        leverage=D(LEVERAGE),
        record=session_record(f"replay:{capture}", "BTCUSDT", "1h", COSTS, CASH),
    )  # fmt: skip
    report = asyncio.run(Session(cfg, ledger, venue).run(stream(capture)))
    assert report.funding_payments >= 8, report
    ledger.close()
    return url


def judge(url: str, funding: pd.Series | None = None) -> object:
    binding = perp_record("binance", LEVERAGE, D("0.005"), D(20))
    with Ledger(url) as ledger:
        return paper_gate(
            ledger, LongShort(), GatePolicy(min_paper_bars=10), verdict=None, symbol=None,
            costs=COSTS, perp=binding, funding=funding,
        )()  # fmt: skip


def history() -> pd.Series:
    """The funding history the promotion was judged on: the stream's rates, stamped 3 ms late
    as Binance stamps them."""
    events = funding_events()
    index = pd.to_datetime([e.ts + 3_000_000 for e in events], unit="ns", utc=True)
    return pd.Series([float(e.rate) for e in events], index=index, name="funding_rate")


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("perp-gate")
    return tmp, run_session(tmp, "perp3x")


def test_a_perpetual_paper_session_that_matches_backtest_perp_passes(session) -> None:
    _, url = session
    with Ledger(url) as ledger:
        report = divergence(ledger, "perp3x", strategy=LongShort(), costs=COSTS)
        booked = ledger.funding_entries("perp3x")
    assert report.missed == report.extra == 0 and report.matched == report.research_orders > 0
    assert report.tracking_error < 1e-4, report
    perp = report.perp
    assert perp is not None and perp.leverage == LEVERAGE and not perp.inconsistent
    assert perp.funding_times == len(booked) >= 8
    # funding both ways, the research amounts those of the session to the cent
    assert perp.session_funding_paid > 0 and perp.session_funding_received > 0
    assert perp.research_funding_paid == pytest.approx(perp.session_funding_paid, rel=1e-4)
    assert perp.research_funding_received == pytest.approx(perp.session_funding_received, rel=1e-4)
    assert perp.session_liquidations == perp.research_liquidations == 0
    gate = judge(url)
    assert gate.passed, gate.detail
    assert "perp3x" in gate.detail


def test_the_spot_backtest_would_not_have_matched(session) -> None:
    """What the gate measured before: the spot backtest of the same bars (1×, no funding)."""
    _, url = session
    with Ledger(url) as ledger:
        row = dict(ledger.session("perp3x"))
        cfg = json.loads(row["config"])
        cfg.pop("perp")
        spot = dict(row, config=json.dumps(cfg))
        original = ledger.session
        ledger.session = lambda sid: spot if sid == "perp3x" else original(sid)  # type: ignore[method-assign]
        report = divergence(ledger, "perp3x", strategy=LongShort(), costs=COSTS)
    assert report.perp is None and report.tracking_error > GatePolicy().max_tracking_error


def test_a_tampered_funding_row_is_refused_naming_it(session, tmp_path) -> None:
    """The session paid 10 % less funding at one time than −position × mark × rate."""
    import sqlalchemy as sa

    tmp, _ = session
    shutil.copy(tmp / "ledger.sqlite", tmp_path / "ledger.sqlite")
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT id, amount FROM funding ORDER BY id LIMIT 1")).one()
        tampered = D(row.amount) * D("0.9")
        conn.execute(
            sa.text("UPDATE funding SET amount = :a WHERE id = :i"),
            {"a": str(tampered), "i": row.id},
        )
    engine.dispose()
    gate = judge(url)
    assert not gate.passed
    assert "booked funding at 2024-01-01 01:20:00" in gate.detail, gate.detail
    assert f"is {tampered:f}" in gate.detail and "−position × mark × rate" in gate.detail


def test_a_venue_slipping_five_times_the_assumption_is_refused(tmp_path) -> None:
    url = run_session(tmp_path, "slips", Costs(COSTS.fee, 5 * COSTS.slippage))
    gate = judge(url)
    assert not gate.passed
    # 10 bps realised against 2 assumed at 3×: the equity leaves research, slippage the cause
    assert gate.detail.startswith("slips: tracking error"), gate.detail
    assert "main cause slippage" in gate.detail


def test_nzeza_divergence_prints_funding_and_liquidations(session) -> None:
    tmp, url = session
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    env["NZEZA_RUNS_DIR"] = str(tmp / "runs")
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "divergence", "perp3x", "--ledger", url, "--json"],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    perp = doc["perp"]
    assert perp["leverage"] == LEVERAGE and perp["funding_times"] >= 8
    assert perp["session_funding_paid"] > 0 and perp["session_liquidations"] == 0
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "divergence", "perp3x", "--ledger", url],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "funding     session paid" in out.stdout and "liquidations session 0" in out.stdout


def test_booked_rates_are_checked_against_the_promotions_funding_history(session) -> None:
    """A session that booked other rates than the history the promotion was judged on (its
    amounts consistent with them, so research on its own rows would agree) is refused."""
    _, url = session
    assert judge(url, history()).passed
    other = history()
    other.iloc[4] = 0.0003  # the venue's published rate at 04:20; the session booked -0.00005
    gate = judge(url, other)
    assert not gate.passed
    assert (
        "booked funding rate -0.00005 at 2024-01-01 04:20:00, the funding history has 0.0003"
        in (gate.detail)
    ), gate.detail


def test_a_liquidated_session_and_research_both_count_the_liquidation(tmp_path) -> None:
    """At 10× a long bought at 10,000 is liquidated by a trade at 9,040 (the liquidation case of
    `tests/engine/test_perp_session.py`): one liquidation in the session and one in research."""
    rows = [[10_000, 10_000], [10_000, 9_950, 9_960], [9_960, 9_100, 9_200], [9_200, 9_040, 9_100],
            [9_100, 9_250], [9_250, 9_300], [9_300, 9_310]]  # fmt: skip
    capture = tmp_path / "liq.jsonl"
    lines = []
    for bar, row in enumerate(rows):
        for k, price in enumerate(row):
            ts = T0 + bar * TF + (k + 1) * S
            data = {"e": "trade", "E": ts // 10**6, "s": "BTCUSDT", "t": len(lines) + 1,
                    "p": f"{price}.00", "q": "1.000", "T": ts // 10**6, "m": False}  # fmt: skip
            lines.append(f"{ts} {json.dumps({'stream': 'btcusdt@trade', 'data': data})}")
    capture.write_text("\n".join(lines) + "\n")
    costs = Costs(0.0004, 0.0)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(url)
    venue = DurablePaperVenue(tmp_path / "venue.sqlite", [perp()], costs)
    cfg = SessionConfig(
        "liq", LongShort(), "long_short", {}, perp(), costs, D(1_000), TF, risk=None,
        leverage=D(10), record=session_record(f"replay:{capture}", "BTCUSDT", "1h", costs, 1_000),
    )  # fmt: skip

    async def trades():
        async for trade in capture_trades([capture], "BTCUSDT"):
            yield trade

    assert asyncio.run(Session(cfg, ledger, venue).run(trades())).liquidations == 1
    report = divergence(ledger, "liq", strategy=LongShort(), costs=costs)
    ledger.close()
    assert report.perp.session_liquidations == report.perp.research_liquidations == 1
    assert "liquidations session 1, research 1" in str(report)


def test_promote_to_live_judges_the_booked_rates_on_its_funding_history(session, tmp_path) -> None:
    """`promote(..., perp=PerpSetup(spec, 3, history))`: the paper gate gets the history."""
    from nzeza.engine.tracking import bars_of, capture_prices
    from nzeza.promotion import promote
    from nzeza.research.perp import PerpSetup

    tmp, _ = session
    shutil.copy(tmp / "ledger.sqlite", tmp_path / "ledger.sqlite")
    bars = bars_of(capture_prices([tmp / "tape.jsonl"], "BTCUSDT"), "1h")
    other = history()
    other.iloc[4] = 0.0003
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:

        def paper(rates: pd.Series) -> object:
            decision = promote(
                ROOT / "notebooks" / "04_session.ipynb", "live",
                strategy="support.perp_cases:LongShort", params={}, ledger=ledger, bars=bars,
                costs=COSTS, policy=GatePolicy(min_paper_bars=10), venue="binance",
                perp=PerpSetup(perp(), LEVERAGE, rates),
            )  # fmt: skip
            return next(g for g in decision.gates if g.name == "paper")

        assert paper(history()).passed
        refused = paper(other)
    assert not refused.passed and "the funding history has 0.0003" in refused.detail
