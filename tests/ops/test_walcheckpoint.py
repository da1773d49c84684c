"""WAL checkpoints run on their own thread: writers never checkpoint inline, and the WAL is
still copied back into the database."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal

from nzeza.ops.walcheckpoint import BACKSTOP_PAGES, WalCheckpointer, defer_checkpoints
from nzeza.store import Ledger


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_the_checkpointer_copies_the_wal_back_and_stops(tmp_path) -> None:
    path = tmp_path / "db.sqlite"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    defer_checkpoints(writer)
    writer.execute("CREATE TABLE t (x TEXT)")
    for _ in range(50):  # ~1,500 pages: past the default automatic checkpoint of 1,000
        writer.executemany("INSERT INTO t VALUES (?)", [("y" * 1000,)] * 120)
    wal = path.with_name(path.name + "-wal")
    # nothing checkpointed the log inline: the rows are in the WAL, not in the database file
    assert wal.stat().st_size > 1000 * 4096
    assert path.stat().st_size < 100 * 4096

    ckpt = WalCheckpointer(path, interval=0.01).start()
    assert wait_for(lambda: ckpt.checkpoints >= 1)
    ckpt.stop()
    assert not ckpt.running
    assert path.stat().st_size > 1000 * 4096  # copied into the database file
    writer.close()
    with sqlite3.connect(path) as probe:
        assert probe.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 6000


def test_a_sqlite_ledger_defers_checkpoints_to_its_thread(tmp_path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    with led.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages == BACKSTOP_PAGES
    led.start_session(
        "s",
        mode="paper",
        strategy="x",
        params={},
        venue="paper",
        currency="USDT",
        initial_balances={"USDT": Decimal(1)},
    )
    assert led._checkpointer is not None and led._checkpointer.running  # started by a write
    led.close()
    assert not led._checkpointer.running
