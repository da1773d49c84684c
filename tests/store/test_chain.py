"""Opening the keyed chain: a new ledger's genesis, the adoption of a ledger made before
schema 4 (`fixtures/ledger_v2.sqlite`, written by nzeza 156ad44), the refusal to migrate a
broken chain, and later migrations that chain the rows they change."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text, update

from nzeza.errors import DataError
from nzeza.promotion.live_check import promotion_evidence
from nzeza.store import Ledger
from nzeza.store import schema as s
from nzeza.store.audit import COVERED_TABLES

V2 = Path(__file__).with_name("fixtures") / "ledger_v2.sqlite"


@pytest.fixture
def v2(tmp_path: Path) -> str:
    path = tmp_path / "old.sqlite"
    shutil.copy(V2, path)
    return f"sqlite:///{path}"


def count(url: str, sql: str) -> int:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return conn.execute(sql).fetchone()[0]


def test_a_v2_ledger_is_adopted_with_every_row(v2: str) -> None:
    legacy = count(v2, "SELECT COUNT(*) FROM audit_log")
    # the tables a schema-2 ledger had (later schemas' tables start empty)
    have = {
        t
        for t in COVERED_TABLES
        if count(v2, f"SELECT COUNT(*) FROM sqlite_master WHERE name='{t}'")
    }
    rows = sum(count(v2, f"SELECT COUNT(*) FROM {t}") for t in have)
    assert count(v2, "SELECT MAX(version) FROM schema_version") == 2
    with Ledger(v2) as led:
        assert led.schema_version == s.LATEST
        report = led.verify_audit()
        assert report.ok, report
        assert report.covered_rows == rows
        adopted = [r for r in led.audit_rows() if r["kind"] == "adopted"]
        assert len(adopted) == 1 and adopted[0]["seq"] == legacy + 1
        opening = orjson.loads(adopted[0]["payload"])
        assert opening["legacy_entries"] == legacy and opening["from_schema"] == 2
        # an old promotion's entry (no row id then) still vouches for its row
        old = led.promotions(target="paper")[0]
        assert promotion_evidence(report, old) == []
        # the adopted rows are covered from now on
        with led.engine.begin() as conn:
            conn.execute(update(s.fills).where(s.fills.c.id == 1).values(price="1"))
        assert "fills id=1: edited" in str(led.verify_audit())


def test_a_v2_ledger_keeps_working_after_adoption(v2: str) -> None:
    with Ledger(v2) as led:
        led.journal_intent("v2-paper", 3, "v2-c3", "paper:BTC/USDT", "buy", Decimal(1), "market",
                           None, 3)  # fmt: skip
        led.mark_intent("v2-c3", "done")
        led.set_session_status("v2-paper", "running", reason="resumed")
        assert led.verify_audit().ok
    with Ledger(v2) as led:  # reopened: nothing migrates twice
        assert len([r for r in led.audit_rows() if r["kind"] == "adopted"]) == 1
        assert led.verify_audit().ok


def test_a_v2_ledger_whose_old_chain_is_broken_is_not_migrated(v2: str) -> None:
    path = v2.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE audit_log SET payload = '{}' WHERE seq = 7")
    before = Path(path).read_bytes()
    with pytest.raises(DataError) as err:
        Ledger(v2)
    assert "audit_log seq 7" in str(err.value) and "not upgraded to schema" in str(err.value)
    assert Path(path).read_bytes() == before  # nothing was changed
    assert count(v2, "SELECT MAX(version) FROM schema_version") == 2


def test_rows_edited_before_adoption_are_adopted_as_they_are(v2: str) -> None:
    """The old chain never covered rows: what a row says at adoption is what is vouched for
    from then on (the documented limit of adopting a pre-schema-4 ledger)."""
    with sqlite3.connect(v2.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE fills SET price = '1' WHERE id = 1")
    with Ledger(v2) as led:
        assert led.verify_audit().ok
        assert led.fills("v2-replay")[0].price == Decimal(1)


def test_concurrent_first_opens_of_a_v2_ledger_adopt_it_once(v2: str) -> None:
    barrier, errors = threading.Barrier(6), []

    def open_it() -> None:
        try:
            barrier.wait()
            Ledger(v2).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(v2, "SELECT COUNT(*) FROM audit_log WHERE kind = 'adopted'") == 1
    with Ledger(v2) as led:
        assert led.verify_audit().ok


def test_a_new_ledger_opens_with_one_genesis_entry(ledger: Ledger) -> None:
    rows = ledger.audit_rows()
    assert [r["kind"] for r in rows] == ["genesis"]
    opening = orjson.loads(rows[0]["payload"])
    assert opening["schema"] == s.LATEST and len(opening["ledger_id"]) == 32
    assert ledger.audit_anchor is not None
    assert ledger.audit_anchor.name == f"{opening['ledger_id']}.anchor"


def test_a_new_ledger_where_another_was_says_it_replaced_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    with Ledger(url) as first:
        first_id = orjson.loads(first.audit_rows()[0]["payload"])["ledger_id"]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'l.sqlite'}{suffix}").unlink(missing_ok=True)
    with Ledger(url) as second:
        report = second.verify_audit()
    assert report.ok
    assert f"this ledger replaced ledger {first_id} at the same location" in str(report)


def _later_migration(conn) -> None:  # a future migration that rewrites stored values
    conn.execute(text("UPDATE risk_events SET detail = detail || ' (migrated)'"))


def test_a_later_migration_chains_the_rows_it_changes(ledger_url: str, monkeypatch) -> None:
    with Ledger(ledger_url) as led:
        led.start_session("s1", mode="paper", strategy="x", params={}, venue="paper",
                          currency="USDT", initial_balances={})  # fmt: skip
        led.record_risk_event("s1", "max_notional", 1, 2, "big")
    monkeypatch.setattr(s, "MIGRATIONS", [*s.MIGRATIONS, (99, "test rewrite", _later_migration)])
    with Ledger(ledger_url) as led:
        assert led.risk_events("s1")[0]["detail"] == "big (migrated)"
        report = led.verify_audit()
        assert report.ok, report
        migrated = [r for r in led.audit_rows() if r["kind"] == "migrated"]
        assert orjson.loads(migrated[0]["payload"])["applied"] == [99]


def test_a_later_migration_refuses_a_tampered_ledger(ledger_url: str, monkeypatch) -> None:
    with Ledger(ledger_url) as led:
        led.start_session("s1", mode="paper", strategy="x", params={}, venue="paper",
                          currency="USDT", initial_balances={})  # fmt: skip
        with led.engine.begin() as conn:
            conn.execute(update(s.sessions).values(mode="live"))
    monkeypatch.setattr(s, "MIGRATIONS", [*s.MIGRATIONS, (99, "test rewrite", _later_migration)])
    with pytest.raises(DataError, match="sessions session_id=s1: edited"):
        Ledger(ledger_url)
    monkeypatch.undo()
    with Ledger(ledger_url) as led, led.engine.connect() as conn:  # 99 not applied
        assert conn.execute(select(func.max(s.schema_version.c.version))).scalar() == s.LATEST


def test_a_ledger_whose_schema_version_was_edited_is_not_migrated_again(ledger: Ledger) -> None:
    """Deleting schema 4's row would make the ledger adopt its own keyed chain a second time;
    it is refused instead."""
    ledger.record_risk_event("s", "check", 1, 2)
    with ledger.engine.begin() as conn:
        conn.execute(s.schema_version.delete().where(s.schema_version.c.version == s.KEYED_CHAIN))
    with pytest.raises(DataError, match="schema_version was edited"):
        Ledger(ledger.url)


V5 = Path(__file__).with_name("fixtures") / "ledger_v5.sqlite"
V5_KEY = "fixture-key-of-the-v5-ledger-0123456789abcdef"  # fixtures/make_v5_ledger.py


def test_a_keyed_v5_ledger_migrates_to_bound_promotions_and_still_verifies(tmp_path: Path) -> None:
    """A keyed ledger from before promotions bound their run (schema 5, written by c9404d1)
    is verified before its upgrade (with the columns it has, not the ones the code expects:
    reading `promotions.binding` there failed every open) and verifies after it."""
    from nzeza.store.auditfiles import AuditSetup

    path, audit = tmp_path / "v5.sqlite", tmp_path / "audit"
    shutil.copy(V5, path)
    shutil.copytree(V5.with_name("ledger_v5_audit"), audit)
    for anchor in (audit / "anchors").iterdir():
        anchor.chmod(0o600)
    promotions = count(f"sqlite:///{path}", "SELECT COUNT(*) FROM promotions")
    with Ledger(f"sqlite:///{path}", audit=AuditSetup(audit, V5_KEY)) as led:
        assert led.schema_version == s.LATEST
        report = led.verify_audit()
        assert report.ok, report
        rows = led.promotions()
        assert len(rows) == promotions == 2 and all(r["binding"] is None for r in rows)
