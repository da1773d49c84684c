"""A session's life, end to end through `nzeza paper` on loopback: one process per session id
(a second refuses at once, naming the first), a resume must bring the configuration it was
started with, and every exit leaves the ledger true — finished, stopped, failed with why."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nzeza.store import Ledger

ROOT = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NZEZA_")}
    full["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    full.update(extra)
    return full


def paper(tmp: Path, sid: str, *args: str, strategy: str = "SmaLike") -> list[str]:
    cmd = [sys.executable, "-m", "nzeza.cli", "paper", "--strategy"]
    cmd += [f"support.toy_strategies:{strategy}", "--params", "short=true", "--session-id", sid]
    cmd += ["--ledger", f"sqlite:///{tmp / 'ledger.sqlite'}", "--venue-db", str(tmp / "v.sqlite")]
    return [*cmd, *args]


def bars_in(tmp: Path, sid: str) -> int:
    if not (tmp / "ledger.sqlite").exists():
        return 0
    with Ledger(f"sqlite:///{tmp / 'ledger.sqlite'}") as led:
        return len(led.equity_curve(sid)) if led.session(sid) else 0


def wait_for_bars(proc: subprocess.Popen, tmp: Path, sid: str, n: int) -> None:
    deadline = time.monotonic() + 120  # a bound on waiting, not a timing assertion
    while bars_in(tmp, sid) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.poll() is not None:
        _out, err = proc.communicate()
        raise AssertionError(f"{sid} exited {proc.returncode}: {err[-3000:]}")
    assert bars_in(tmp, sid) >= n


def status_json(tmp: Path, sid: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            "status",
            "--session",
            sid,
            "--json",
            "--ledger",
            f"sqlite:///{tmp / 'ledger.sqlite'}",
        ],
        cwd=tmp,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_second_process_on_a_running_session_id_refuses_at_once(tmp_path, replay_server):
    server = replay_server()  # a venue stream that never closes: the session keeps running
    e = env(NZEZA_BINANCE__WS_URL=server.base_url)
    first = subprocess.Popen(
        paper(tmp_path, "one", "--feed", "binance"),
        cwd=tmp_path,
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_bars(first, tmp_path, "one", 20)
        with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
            audit_before = len(led.audit_rows("one"))
        second = subprocess.run(
            paper(tmp_path, "one", "--feed", "binance"),
            cwd=tmp_path,
            env=e,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, (second.stdout, second.stderr)
        assert f"pid {first.pid} on host {socket.gethostname()}" in second.stderr
        assert "is running in another process" in second.stderr
        assert "starting" not in second.stdout and "resuming" not in second.stdout
        with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
            # the refused process wrote nothing: the first one's rows only grew
            rows = led.audit_rows("one")
            assert all(json.loads(r["payload"]).get("reason") != "resumed" for r in rows)
            assert len(rows) >= audit_before
        assert first.poll() is None  # the first one never noticed
        wait_for_bars(first, tmp_path, "one", 130)
        first.send_signal(signal.SIGTERM)
        _out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, err
    doc = status_json(tmp_path, "one")
    assert doc["state"] == "stopped" and doc["reason"] == "signal SIGTERM"
    assert {o["status"] for o in doc["orders"]} == {"filled"}  # nothing left 'accepted'
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        fills = led.fills("one")
        assert len({f.trade_id for f in fills}) == len(fills) > 3
        assert led.verify_audit().ok


def test_a_resume_with_another_configuration_is_refused_naming_each_difference(tmp_path):
    done = subprocess.run(
        paper(tmp_path, "res", "--timeframe", "5s"),
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        before = led.audit_rows()
        assert led.session("res")["status"] == "finished"
    again = subprocess.run(
        paper(tmp_path, "res", "--timeframe", "5s", "--fee", "0.002", "--cash", "20000"),
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 2, (again.stdout, again.stderr)
    assert "fee 0.001 → 0.002" in again.stderr and "init_cash 10000.0 → 20000.0" in again.stderr
    assert "Traceback" not in again.stderr
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        assert led.audit_rows() == before  # nothing written
        assert led.session("res")["status"] == "finished"
    # the same configuration resumes
    same = subprocess.run(
        paper(tmp_path, "res", "--timeframe", "5s"),
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert same.returncode == 0 and "resuming paper session res" in same.stdout, same.stderr


@pytest.mark.parametrize("risk_env", [{}, {"NZEZA_RISK__MAX_ORDER_NOTIONAL": "1000"}])
def test_a_resume_with_other_risk_limits_is_refused(tmp_path, risk_env):
    first = subprocess.run(
        paper(tmp_path, "rk"), cwd=tmp_path, env=env(**risk_env), capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    changed = {"NZEZA_RISK__MAX_ORDER_NOTIONAL": "5000" if risk_env else "1000"}
    again = subprocess.run(
        paper(tmp_path, "rk"), cwd=tmp_path, env=env(**changed), capture_output=True, text=True
    )
    assert again.returncode == 2
    assert "risk.max_order_notional" in again.stderr


def test_an_error_mid_session_leaves_it_failed_with_the_reason(tmp_path):
    out = subprocess.run(
        paper(tmp_path, "boom", strategy="Explodes"),
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "session boom failed: ValueError: boom at call" in out.stderr
    assert "Traceback" not in out.stderr
    doc = status_json(tmp_path, "boom")
    assert doc["state"] == "failed" and doc["reason"].startswith("ValueError: boom at call")
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        assert 0 < len(led.equity_curve("boom")) < 130  # it died in the middle
        assert led.verify_audit().ok


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_200_healthz_requests_during_a_session_leave_it_running_to_its_end(tmp_path):
    """Each /healthz request ran on a thread of its own and pinned a ledger writer connection
    it never gave back: the 15th exhausted the pool and killed the session, which the ledger
    still called running. The probes now hold no connection."""
    import concurrent.futures
    import urllib.error
    import urllib.request

    port = free_port()
    proc = subprocess.Popen(
        paper(tmp_path, "probed", "--pace", "0.0005", "--metrics-port", str(port)),
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def get(path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return -1

    try:
        deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
        while get("/healthz") == -1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
            codes = list(pool.map(get, ["/healthz"] * 200 + ["/metrics"] * 20))
        assert proc.poll() is None, "the session died under the probes"
        _out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert "QueuePool" not in err
    assert codes.count(200) >= 200, codes  # every probe answered healthy while it ran
    doc = status_json(tmp_path, "probed")
    assert doc["state"] == "finished" and doc["reason"] == "feed ended" and doc["bars"] == 130


def nzeza_cmd(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            *args,
            "--ledger",
            f"sqlite:///{tmp / 'ledger.sqlite'}",
        ],
        cwd=tmp,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nzeza_kill_session_stops_that_session_only_and_it_stays_killed(tmp_path, replay_server):
    procs = {
        sid: subprocess.Popen(
            paper(tmp_path, sid, "--feed", "binance"),  # one paper venue, as by default
            cwd=tmp_path,
            env=env(NZEZA_BINANCE__WS_URL=replay_server().base_url),  # a stream each
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for sid in ("target", "bystander")
    }
    try:
        for sid, proc in procs.items():
            wait_for_bars(proc, tmp_path, sid, 130)  # the tape is over: both idle, running
        out = nzeza_cmd(tmp_path, "kill", "target", "--reason", "desk says stop")
        assert out.returncode == 0, out.stderr
        assert "kill switch engaged for session target: it stops at its next event" in out.stdout
        # the feed is idle (the tape is over, the stream open): the switch is polled anyway
        _, t_err = procs["target"].communicate(timeout=120)
        assert procs["bystander"].poll() is None  # untouched
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=60)
    doc = status_json(tmp_path, "target")
    assert doc["state"] == "stopped", (doc["state"], doc["reason"], t_err[-2000:])
    assert doc["reason"] == "kill switch: kill file runs/kill/target: desk says stop"
    assert status_json(tmp_path, "bystander")["reason"] == "signal SIGTERM"
    # killed stays killed: a restart refuses until the switch is released
    again = subprocess.run(
        paper(tmp_path, "target", "--timeframe", "5s"),
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "was killed (desk says stop)" in again.stderr
    assert "nzeza kill target --release" in again.stderr
    released = nzeza_cmd(tmp_path, "kill", "target", "--release")
    assert released.returncode == 0 and "released" in released.stdout
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        kinds = [r["kind"] for r in led.audit_rows("target")]
    assert "kill_requested" in kinds and "kill_released" in kinds


def test_nzeza_kill_of_an_unknown_session_says_so(tmp_path):
    out = nzeza_cmd(tmp_path, "kill", "nobody")
    assert out.returncode == 2 and "invalid session='nobody': is not in the ledger" in out.stderr
    bad = nzeza_cmd(tmp_path, "kill", "../x")
    assert bad.returncode == 2 and "invalid session=" in bad.stderr


def test_limits_set_looser_than_the_defaults_are_recorded_once(tmp_path):
    """Turning a limit off or loosening it is allowed, and the ledger says so (once per
    session, not again on a resume)."""
    from engine.test_dispatch import run_session

    loose = {"max_order_notional": "1000000", "max_daily_loss": "off"}
    _, ledger, _ = run_session(tmp_path, "loose", **loose)
    ledger.close()
    _, ledger, _ = run_session(tmp_path, "loose", **loose)  # resumed
    events = [e for e in ledger.risk_events("loose") if e["check_name"] == "limit_loosened"]
    ledger.close()
    assert [e["detail"] for e in events] == [
        "limit loosened: max_order_notional 250% → 1000000",
        "limit loosened: max_daily_loss 5% → off",
    ]


def test_a_websocket_feed_may_move_but_not_become_another_feed() -> None:
    from nzeza.engine.lifecycle import config_differences

    moved = config_differences(
        {"feed": "ws://127.0.0.1:41725/stream", "symbol": "BTCUSDT"},
        {"feed": "ws://127.0.0.1:46037/stream", "symbol": "BTCUSDT"},
        "paper",
    )
    assert moved == []
    other = config_differences(
        {"feed": "ws://127.0.0.1:41725/stream", "symbol": "BTCUSDT"},
        {"feed": "capture:binance_btcusdt", "symbol": "ETHUSDT"},
        "paper",
    )
    assert other == [
        "feed ws://127.0.0.1:41725/stream → capture:binance_btcusdt",
        "symbol BTCUSDT → ETHUSDT",
    ]
