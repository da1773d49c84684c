"""The ledger's /healthz probe reads on connections of its own and holds none of the ledger's."""

from __future__ import annotations

import os
import threading

import pytest

from nzeza.store import Ledger
from nzeza.store.probe import probe


def test_probes_from_many_threads_take_nothing_from_the_ledger(ledger: Ledger) -> None:
    ledger.audit("x", {"a": 1})  # the ledger has written: its own writer exists
    check = probe(ledger)
    writers, held = len(ledger._writers), ledger.engine.pool.checkedout()
    results: list[tuple[bool, object]] = []
    threads = [threading.Thread(target=lambda: results.append(check())) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40 and all(ok for ok, _ in results), results[:3]
    assert ledger.engine.pool.checkedout() == held  # the session's own writer, no more
    assert len(ledger._writers) == writers  # no thread got a pinned writer


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_sqlite_ledger_is_unhealthy(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    with Ledger(url) as led:
        check = probe(led)
        assert check()[0]
        tmp_path.chmod(0o500)
        try:
            ok, detail = check()
        finally:
            tmp_path.chmod(0o700)
    assert not ok and "not writable" in detail


def test_a_missing_sqlite_file_is_unhealthy(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as led:
        check = probe(led)
        (tmp_path / "l.sqlite").rename(tmp_path / "moved.sqlite")
        ok, detail = check()
    assert not ok and "not readable" in detail
