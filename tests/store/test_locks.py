"""The session lock: one process per session id, on SQLite and PostgreSQL ledgers; the
holder is named; a holder killed with -9 frees the id at once. Real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from nzeza.errors import SessionLocked
from nzeza.store import Ledger
from nzeza.store.locks import SessionLock, lock_holder

HOLDER = textwrap.dedent(
    """
    import sys, time
    from nzeza.store import Ledger
    from nzeza.store.locks import SessionLock

    url, sid = sys.argv[1], sys.argv[2]
    led = Ledger(url)
    lock = SessionLock(led, sid).acquire()
    print("held", flush=True)
    sys.stdin.readline()  # hold until told (or killed)
    lock.release()
    led.close()
    print("released", flush=True)
    """
)


def hold(url: str, sid: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, sid],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


def test_a_second_process_is_refused_naming_the_holder(ledger_url: str) -> None:
    Ledger(ledger_url).close()
    proc = hold(ledger_url, "s1")
    try:
        with Ledger(ledger_url) as led:
            with pytest.raises(SessionLocked) as err:
                SessionLock(led, "s1").acquire()
            assert err.value.session_id == "s1"
            if led.engine.dialect.name == "sqlite":
                assert f"pid {proc.pid} on host {socket.gethostname()}" in str(err.value)
            else:
                assert f"pid {proc.pid}" in err.value.holder  # from its application_name
            assert lock_holder(led, "s1") is not None
            with SessionLock(led, "other"):  # another id is free
                pass
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "released"
        with Ledger(ledger_url) as led:
            assert lock_holder(led, "s1") is None
            with SessionLock(led, "s1"):  # free again
                pass
    finally:
        proc.kill()
        proc.communicate()


def test_a_holder_killed_with_sigkill_frees_the_id_at_once(ledger_url: str) -> None:
    Ledger(ledger_url).close()
    proc = hold(ledger_url, "crashy")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    with Ledger(ledger_url) as led:
        lock = None
        for _ in range(50):  # PostgreSQL notices the dropped connection within moments
            try:
                lock = SessionLock(led, "crashy").acquire()
                break
            except SessionLocked:
                import time

                time.sleep(0.1)
        assert lock is not None
        lock.release()


def test_two_locks_in_one_process_on_one_id_conflict(ledger: Ledger) -> None:
    with SessionLock(ledger, "same"), pytest.raises(SessionLocked):
        SessionLock(ledger, "same").acquire()


def test_in_memory_ledgers_lock_within_the_process() -> None:
    with Ledger("sqlite://") as led, SessionLock(led, "m"), pytest.raises(SessionLocked):
        SessionLock(led, "m").acquire()
