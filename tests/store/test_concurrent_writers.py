"""Two processes writing one ledger at the same time: both succeed, and the audit chain stays one.

Writers of one SQLite file serialise on its write lock, taken when the transaction begins
(BEGIN IMMEDIATE), so an audit append never reads a tail that another writer is extending;
PostgreSQL writers serialise on an advisory lock. The anchor outside the ledger ends at the
chain's head whichever process committed last. Real processes, a real file or server.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sqlalchemy import text

from nzeza.store import Ledger

WRITER = textwrap.dedent(
    """
    import sys
    from nzeza.store import Ledger

    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Ledger(url) as led:
        print("ready", flush=True)
        sys.stdin.readline()  # both processes start writing at the same moment
        for i in range(n):
            led.audit("test", {"writer": name, "i": i})
    print("done", flush=True)
    """
)


def test_two_processes_append_to_one_audit_chain(ledger_url: str) -> None:
    Ledger(ledger_url).close()  # schema in place before the writers race
    n = 300
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, ledger_url, name, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "done"
    with Ledger(ledger_url) as led:
        report = led.verify_audit()
        assert report.ok, report
        assert report.anchor == f"anchor at seq {report.rows} of {report.rows}"
        assert report.rows >= 2 * n
        with led.engine.connect() as conn:
            kinds = conn.execute(
                text("SELECT payload FROM audit_log WHERE kind = 'test' ORDER BY seq")
            ).scalars()
            written = sorted(kinds)
    assert len(written) == 2 * n
    assert len(set(written)) == 2 * n  # every append landed exactly once


ROW_WRITER = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from nzeza.domain import Fill, Instrument, Order, OrderFilled, OrderSubmitted, Portfolio
    from nzeza.store import Ledger

    url, sid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    btc = Instrument("paper", "BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.0001"))
    with Ledger(url) as led:
        led.start_session(sid, mode="paper", strategy="x", params={}, venue="paper",
                          currency="USDT", initial_balances={"USDT": Decimal(10000)})
        pf = Portfolio("USDT", {"USDT": 10000}, [btc])
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(1, n + 1):
            cid = f"{sid}-{i}"
            led.journal_intent(sid, i, cid, btc.id, "buy", Decimal("0.01"), "market", None, i)
            order = Order(cid, btc, "buy", Decimal("0.01"))
            order.apply(OrderSubmitted(i))
            led.record_order(sid, order, "submit")
            f = Fill(f"{sid}-t{i}", cid, btc.id, "buy", Decimal("0.01"), Decimal(100),
                     Decimal(0), "USDT", i)
            order.apply(OrderFilled(f))
            pf.apply_fill(f, persist=led.fill_writer(sid, "paper", f, order))
            led.mark_intent(cid, "done")
            led.record_equity(sid, i, pf.snapshot().cash, pf.snapshot().cash, 0, 0)
    print("done", flush=True)
    """
)


def test_two_sessions_writing_rows_at_once_keep_every_row_covered(ledger_url: str) -> None:
    """Intents, orders, fills, positions, balances and equity from two processes at once: every
    row is in the one chain, and the ids the chain recorded are the rows' own."""
    Ledger(ledger_url).close()
    n = 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ROW_WRITER, ledger_url, sid, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for sid in ("a", "b")
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out.strip() == "done", err[-2000:]
    with Ledger(ledger_url) as led:
        report = led.verify_audit()
        assert report.ok, report
        assert report.anchor == f"anchor at seq {report.rows} of {report.rows}"
        assert len(led.fills("a")) == len(led.fills("b")) == n
