"""Two processes writing one ledger at the same time: both succeed, and the audit chain stays one.

Writers of one SQLite file serialise on its write lock, taken when the transaction begins
(BEGIN IMMEDIATE), so an audit append never reads a tail that another writer is extending;
PostgreSQL writers serialise on an advisory lock. Real processes, a real file or server.
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
        assert report.rows >= 2 * n
        with led.engine.connect() as conn:
            kinds = conn.execute(
                text("SELECT payload FROM audit_log WHERE kind = 'test' ORDER BY seq")
            ).scalars()
            written = sorted(kinds)
    assert len(written) == 2 * n
    assert len(set(written)) == 2 * n  # every append landed exactly once
