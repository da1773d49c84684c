"""`nzeza status` and `nzeza audit verify`, end to end on a real ledger file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from sqlalchemy import update

from nzeza.data import load_sample
from nzeza.domain import Costs
from nzeza.engine import replay
from nzeza.store import Ledger
from nzeza.store import schema as s
from nzeza.strategies import get_strategy


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    return subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_status_and_audit_verify_read_the_ledger(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    bars = load_sample("btc_usd_1h").iloc[-500:]
    with Ledger(url) as led:
        result = replay(
            get_strategy("sma_cross")(fast=5, slow=20),
            bars,
            Costs(0.001, 0.0005),
            10_000,
            ledger=led,
            session_id="st1",
        )
    out = cli(tmp_path, "status", "--ledger", url)
    assert out.returncode == 0, out.stderr
    assert "st1" in out.stdout and "replay" in out.stdout and "finished" in out.stdout
    assert f"fills={len(result.fills)}" in out.stdout
    assert "equity=" in out.stdout
    missing = cli(tmp_path, "status", "--ledger", url, "--session", "nope")
    assert missing.returncode == 1 and "no session 'nope'" in missing.stdout

    ok = cli(tmp_path, "audit", "verify", "--ledger", url)
    assert ok.returncode == 0 and "hash chain verified" in ok.stdout
    with Ledger(url) as led, led.engine.begin() as conn:  # tamper with one audit row
        conn.execute(update(s.audit_log).where(s.audit_log.c.seq == 3).values(payload="{}"))
    bad = cli(tmp_path, "audit", "verify", "--ledger", url)
    assert bad.returncode == 1 and "TAMPERED at seq 3" in bad.stdout


def test_status_of_an_empty_ledger(tmp_path) -> None:
    out = cli(tmp_path, "status", "--ledger", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert out.returncode == 0 and "no sessions in the ledger yet" in out.stdout


def test_status_json_of_one_session(tmp_path) -> None:
    """`nzeza status --session ID --json`: one JSON object with the session's state, equity,
    orders and risk events (here a paper session whose orders the risk limit resized)."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    env["NZEZA_RISK__MAX_ORDER_NOTIONAL"] = "1000"
    env["NZEZA_RISK__ON_BREACH"] = "amend"
    args = ["paper", "--strategy", "sma_cross", "--params", "fast=5", "slow=20"]
    args += ["--session-id", "js", "--ledger", url, "--timeframe", "5s"]
    run = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    out = cli(tmp_path, "status", "--session", "js", "--json", "--ledger", url)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # exactly one JSON object
    assert isinstance(doc, dict) and doc["session_id"] == "js"
    assert doc["state"] == "finished" and doc["reason"] == "feed ended"
    assert Decimal(doc["equity"]) > 0 and doc["holder"] is None
    assert doc["orders"]
    for order in doc["orders"]:
        assert {"client_order_id", "side", "quantity", "status", "avg_fill_price"} <= set(order)
        assert order["status"] == "filled" and Decimal(order["avg_fill_price"]) > 0
        assert Decimal(order["quantity"]) * Decimal(order["avg_fill_price"]) <= 1000
    assert doc["risk_events"]
    for event in doc["risk_events"]:
        assert event["check"] == "max_order_notional" and "amended to" in event["reason"]
    assert doc["config"]["risk"]["max_order_notional"] == "1000"
    # every session, as one object too
    every = json.loads(cli(tmp_path, "status", "--json", "--ledger", url).stdout)
    assert [s["session_id"] for s in every["sessions"]] == ["js"]


def test_audit_verify_names_the_table_the_row_and_what_is_wrong(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    bars = load_sample("btc_usd_1h").iloc[-300:]
    with Ledger(url) as led:
        replay(get_strategy("sma_cross")(fast=5, slow=20), bars, Costs(0.001, 0.0005), 10_000,
               ledger=led, session_id="st1")  # fmt: skip
    with Ledger(url) as led, led.engine.begin() as conn:  # write access, no key
        conn.execute(update(s.fills).where(s.fills.c.id == 2).values(price="1"))
        conn.execute(update(s.sessions).values(mode="live"))
        conn.execute(s.equity_snapshots.delete().where(s.equity_snapshots.c.id == 3))
    bad = cli(tmp_path, "audit", "verify", "--ledger", url)
    assert bad.returncode == 1, bad.stderr
    assert "audit log TAMPERED" in bad.stdout
    for line in (
        "sessions session_id=st1: edited: its content differs from what audit entry",
        "fills id=2: edited: its content differs from what audit entry",
        "equity_snapshots id=3: missing: recorded by audit entry",
    ):
        assert line in bad.stdout, bad.stdout
    assert "rows checked in" in bad.stdout


def test_audit_anchor_records_a_missing_anchor_only_over_an_intact_chain(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with Ledger(url) as led:
        led.record_risk_event("s", "check", 1, 2)
        anchor = led.audit_anchor
    anchor.unlink()
    missing = cli(tmp_path, "audit", "verify", "--ledger", url)
    assert missing.returncode == 1 and "anchor" in missing.stdout and "missing" in missing.stdout
    fixed = cli(tmp_path, "audit", "anchor", "--ledger", url)
    assert fixed.returncode == 0 and "hash chain verified" in fixed.stdout, fixed.stdout
    assert cli(tmp_path, "audit", "verify", "--ledger", url).returncode == 0
    with Ledger(url) as led, led.engine.begin() as conn:
        conn.execute(update(s.risk_events).values(value="3"))
    anchor.unlink()
    refused = cli(tmp_path, "audit", "anchor", "--ledger", url)
    assert refused.returncode == 1 and "not anchored" in refused.stdout
    assert not anchor.exists()
