"""Perpetuals in the ledger: funding entries (with their cash), liquidation marks, on the chain."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from sqlalchemy import delete, update

from nzeza.domain import Fill, Order, OrderFilled, OrderSubmitted, Perpetual, Portfolio
from nzeza.engine.recovery import rebuild
from nzeza.errors import DataError
from nzeza.store import Ledger
from nzeza.store import schema as s

D = Decimal
PERP = Perpetual("binance", "BTC/USDT:USDT", "BTC", "USDT", D("0.1"), D("0.001"))


def _session_with_a_long(ledger: Ledger, sid: str = "p1") -> Portfolio:
    """A session long 2 BTC bought at 50,000 (no fee)."""
    ledger.start_session(
        sid, mode="paper", strategy="s", params={}, venue="paper", currency="USDT",
        initial_balances={"USDT": D(100_000)},
    )  # fmt: skip
    pf = Portfolio("USDT", {"USDT": D(100_000)}, [PERP])
    order = Order(f"{sid}-c1", PERP, "buy", D(2))
    order.apply(OrderSubmitted(1))
    ledger.record_order(sid, order, "submit")
    fill = Fill(f"{sid}-t1", order.client_order_id, PERP.id, "buy", D(2), D(50_000), D(0),
                "USDT", 1)  # fmt: skip
    order.apply(OrderFilled(fill))
    assert pf.apply_fill(fill, persist=ledger.fill_writer(sid, "paper", fill, order))
    return pf


def _fund(ledger: Ledger, pf: Portfolio, ts: int, sid: str = "p1") -> bool:
    pos = pf.snapshot().position(PERP.id).quantity
    mark, rate = D(50_000), D("0.0001")
    amount = -pos * mark * rate
    persist = ledger.funding_writer(sid, PERP.id, ts, pos, mark, rate, amount)
    return pf.apply_funding(PERP.id, ts, amount, persist=persist)


def test_funding_is_its_own_entry_in_cash_and_booked_once(ledger: Ledger) -> None:
    pf = _session_with_a_long(ledger)
    assert _fund(ledger, pf, 8 * 3600 * 10**9)
    [entry] = ledger.funding_entries("p1")
    assert entry["amount"] == D(-10) and entry["position"] == D(2) and entry["rate"] == D("0.0001")
    # the cash moved by exactly the payment, in memory and in the ledger
    assert pf.snapshot().cash == D(0) - 10
    assert ledger.balances("p1")["USDT"] == D(-10)
    assert pf.snapshot().funding[PERP.id] == D(-10)
    # the same funding time again: refused by the portfolio, and by the ledger itself
    assert not _fund(ledger, pf, 8 * 3600 * 10**9)
    with pytest.raises(DataError, match="already booked"):
        ledger.record_funding(
            "p1", PERP.id, 8 * 3600 * 10**9, D(2), D(1), D(1), D(-1), pf.snapshot()
        )
    assert ledger.balances("p1")["USDT"] == D(-10)  # the refused write changed nothing
    assert len(ledger.funding_entries("p1")) == 1
    # a restart rebuilds the same cash, and knows the funding time is booked
    rec = rebuild(ledger, "p1", PERP)
    assert rec.portfolio.snapshot().cash == D(-10)
    assert rec.portfolio.has_funding(PERP.id, 8 * 3600 * 10**9)
    assert ledger.verify_audit().ok
    from nzeza.store.status import session_status

    doc = session_status(ledger, "p1")
    assert doc["funding"]["payments"] == 1
    assert D(doc["funding"]["paid"]) == 10 and D(doc["funding"]["received"]) == 0


def test_a_liquidation_marks_its_order(ledger: Ledger) -> None:
    _session_with_a_long(ledger)
    ledger.record_liquidation(
        "p1", "paper", "p1-c1", PERP.id, 5, D(2), D(50_000), D(10_000), D("0.005"), D(45_000)
    )
    [row] = ledger.liquidations("p1")
    assert row["client_order_id"] == "p1-c1" and row["price"] == "45000"
    assert [f.order_id for f in ledger.fills("p1")] == ["p1-c1"]  # the fills it marks
    with pytest.raises(DataError):  # one mark per order
        ledger.record_liquidation(
            "p1", "paper", "p1-c1", PERP.id, 5, D(2), D(50_000), D(1), D("0.005"), D(1)
        )
    assert ledger.verify_audit().ok


def test_a_deleted_funding_row_is_caught_on_restart_and_by_the_audit(ledger: Ledger) -> None:
    pf = _session_with_a_long(ledger)
    _fund(ledger, pf, 1000)
    with ledger.engine.begin() as conn:  # the attacker: write access, no key
        conn.execute(delete(s.funding))
    with pytest.raises(DataError, match="balance USDT"):
        rebuild(ledger, "p1", PERP)
    report = ledger.verify_audit()
    assert not report.ok and "funding" in str(report)


def test_an_edited_funding_row_fails_nzeza_audit(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with Ledger(url) as led:
        pf = _session_with_a_long(led)
        _fund(led, pf, 1000)
        _fund(led, pf, 2000)

    def audit() -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
        return subprocess.run(
            [sys.executable, "-m", "nzeza.cli", "audit", "verify", "--ledger", url],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    ok = audit()
    assert ok.returncode == 0 and "hash chain verified" in ok.stdout, ok.stdout + ok.stderr
    with Ledger(url) as led, led.engine.begin() as conn:  # pay less funding than was due
        conn.execute(update(s.funding).where(s.funding.c.ts == 2000).values(amount="-1"))
    bad = audit()
    assert bad.returncode == 1, bad.stdout
    assert "funding id=2" in bad.stdout and "edited" in bad.stdout


def test_a_funding_booked_from_the_venue_carries_its_check_in_one_transaction(
    ledger: Ledger,
) -> None:
    pf = _session_with_a_long(ledger)
    check = dict(source="venue", status="booked", booked_amount=None,
                 venue_amount=D("-12.5"), venue_ts=3000 + 40)  # fmt: skip
    persist = ledger.funding_writer(
        "p1", PERP.id, 3000, D(2), D(50_000), D("0.000125"), D("-12.5"), check=check
    )
    assert pf.apply_funding(PERP.id, 3000, D("-12.5"), persist=persist)
    [entry] = ledger.funding_entries("p1")
    [row] = ledger.funding_checks("p1")
    assert entry["amount"] == row["venue_amount"] == D("-12.5")
    assert (row["source"], row["status"], row["booked_amount"]) == ("venue", "booked", None)
    # a funding time is reconciled once: a second check of it is refused, and a funding row
    # whose check collides is not written either (one transaction)
    with pytest.raises(DataError, match="already reconciled"):
        ledger.record_funding_check(
            "p1", PERP.id, 3000, source="session", status="match", booked_amount=D("-12.5"),
            venue_amount=D("-12.5"), venue_ts=3040,
        )  # fmt: skip
    persist = ledger.funding_writer(
        "p1", PERP.id, 3000 + 10, D(2), D(1), D(1), D(-2), check=dict(check)
    )
    with ledger.batch():
        ledger.record_funding_check(
            "p1", PERP.id, 3010, source="session", status="match", booked_amount=D(-2),
            venue_amount=D(-2), venue_ts=3010,
        )  # fmt: skip
    with pytest.raises(DataError):
        pf.apply_funding(PERP.id, 3010, D(-2), persist=persist)
    assert len(ledger.funding_entries("p1")) == 1
    assert ledger.balances("p1")["USDT"] == D("-12.5")
    assert ledger.verify_audit().ok


def test_an_edited_or_deleted_funding_check_fails_the_audit(ledger: Ledger) -> None:
    pf = _session_with_a_long(ledger)
    _fund(ledger, pf, 1000)
    ledger.record_funding_check(
        "p1", PERP.id, 1000, source="session", status="mismatch", booked_amount=D(-10),
        venue_amount=D("-10.4"), venue_ts=1012,
    )  # fmt: skip
    assert ledger.verify_audit().ok
    with ledger.engine.begin() as conn:  # the attacker hides the mismatch
        conn.execute(update(s.funding_checks).values(status="match", venue_amount="-10"))
    report = ledger.verify_audit()
    assert not report.ok and "funding_checks" in str(report)
    with ledger.engine.begin() as conn:
        conn.execute(delete(s.funding_checks))
    report = ledger.verify_audit()
    assert not report.ok and "funding_checks" in str(report)
