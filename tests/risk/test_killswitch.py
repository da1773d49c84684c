"""The kill switch stops new orders within one event: file, signal, call; `nzeza kill`."""

from __future__ import annotations

import os
import signal
from decimal import Decimal

from risk.riskkit import BTC, INSTRUMENTS, T0, buy, ctx, portfolio, sell

from nzeza.cli import main
from nzeza.risk import KillSwitch, RiskConfig, RiskEngine, write_kill_file

D = Decimal


def test_kill_file_stops_the_very_next_event(tmp_path):
    path = tmp_path / "KILL"
    eng = RiskEngine(RiskConfig(kill_file=path), INSTRUMENTS)
    assert eng.check(buy("0.1"), ctx()).accepted
    write_kill_file(path, "operator pulled it")
    d = eng.check(buy("0.1"), ctx(now=T0 + 1))  # the first event after the file appears
    assert not d.accepted and d.rejection.check == "kill_switch"
    assert "operator pulled it" in d.rejection.detail
    # Everything is blocked, reducing orders included, and removing the file is not a release.
    c = ctx(portfolio((BTC, "1", "60000")), now=T0 + 2)
    assert not eng.check(sell("1"), c).accepted
    path.unlink()
    assert not eng.check(buy("0.1"), ctx(now=T0 + 3)).accepted
    eng.kill_switch.release()
    assert eng.check(buy("0.1"), ctx(now=T0 + 4)).accepted


def test_on_event_polls_the_file(tmp_path):
    path = tmp_path / "KILL"
    eng = RiskEngine(RiskConfig(kill_file=path), INSTRUMENTS)
    eng.on_event(ctx())
    assert not eng.halted
    write_kill_file(path)
    eng.on_event(ctx(now=T0 + 1))
    assert eng.halted


def test_signal_engages_the_switch():
    ks = KillSwitch()
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        ks.install_signal_handler(signal.SIGUSR1)
        eng = RiskEngine(RiskConfig(), INSTRUMENTS, kill_switch=ks)
        assert eng.check(buy("0.1"), ctx()).accepted
        os.kill(os.getpid(), signal.SIGUSR1)
        d = eng.check(buy("0.1"), ctx(now=T0 + 1))
        assert d.rejection.check == "kill_switch" and "SIGUSR1" in d.rejection.detail
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_nzeza_kill_writes_the_file(tmp_path):
    path = tmp_path / "runs" / "KILL"
    eng = RiskEngine(RiskConfig(kill_file=path), INSTRUMENTS)
    assert main(["kill", "--file", str(path), "--reason", "drill"]) == 0
    assert path.read_text().strip() == "drill"
    assert eng.check(buy("0.1"), ctx()).rejection.check == "kill_switch"
