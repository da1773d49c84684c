"""`nzeza pipeline serve`: due pipelines run, a running one is not started twice, every
execution (and every skipped one) is recorded, and a stop signal ends it cleanly. The clock is
injected; the runs are real `nzeza pipeline run` processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nzeza.errors import ValidationError
from nzeza.pipeline import read_history
from nzeza.pipeline.serve import MAX_SLEEP_S, Server, find_specs


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, hh_mm_ss: str) -> None:
        h, m, s = map(int, hh_mm_ss.split(":"))
        self.now = self.now.replace(hour=h, minute=m, second=s)


def every_minute(project: Path, gate: Path) -> Path:
    spec = project / "pipelines" / "minutely.yaml"
    spec.write_text(
        "name: minutely\nnotebook: notebooks/toy.ipynb\noutput: runs/minutely\n"
        f"schedule: '* * * * *'\nparameters: {{x: 1, gate: '{gate}'}}\n"
    )
    return spec


def wait_until(condition, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_due_runs_start_once_and_are_recorded(project: Path) -> None:
    gate = project / "gate"
    clock = Clock(datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC))
    lines: list[str] = []
    server = Server(find_specs([every_minute(project, gate)]), clock=clock, log=lines.append)
    out = project / "runs" / "minutely"
    assert server.tick() == []  # 00:00:30: nothing due
    assert server.seconds_to_next() == 30
    clock.at("00:01:00")
    (event,) = server.tick()
    assert event[1].startswith("started for 2026-03-01T00:01:00")
    clock.at("00:02:00")  # the 00:01 execution waits on the gate: still running
    (event,) = server.tick()
    assert event[1].startswith("skipped 2026-03-01T00:02:00") and "still running" in event[1]
    gate.touch()
    wait_until(lambda: server.jobs[0].running.process.poll() is not None)
    clock.at("00:03:05")  # a late tick: the 00:03 time still runs, once
    events = server.tick()
    assert [e[1].split(" ")[0] for e in events] == ["finished", "started"]
    assert server.jobs[0].next_due == datetime(2026, 3, 1, 0, 4, tzinfo=UTC)
    server.shutdown(grace=240)
    assert server.jobs[0].finished == [0, 0]
    history = read_history(out)
    # in the order written: the skip is recorded while the first execution still runs
    assert [(h["trigger"], h["status"]) for h in history] == [
        ("serve", "skipped"),
        ("serve", "ok"),
        ("serve", "ok"),
    ]
    index = json.loads((out / "index.json").read_text())
    assert index["trigger"] == "serve" and index["runs"][0]["metrics"]["y"] == 10
    assert len(list((out / "logs").glob("*.log"))) == 2


def test_stop_interrupts_a_run_past_its_grace(project: Path) -> None:
    gate = project / "never"
    clock = Clock(datetime(2026, 3, 1, 0, 0, 59, tzinfo=UTC))
    server = Server(find_specs([every_minute(project, gate)]), clock=clock, log=lambda _: None)
    clock.at("00:01:00")
    server.tick()
    process = server.jobs[0].running.process
    server.shutdown(grace=0)
    assert process.poll() is not None
    (entry,) = read_history(project / "runs" / "minutely")
    assert entry["status"] == "interrupted"
    assert not (project / "runs" / "minutely" / "index.json").exists()


def test_the_loop_sleeps_until_the_next_time_and_stops_on_request(project: Path) -> None:
    """serve() itself, with an injected clock and sleep: no real minute waits. The launcher
    here starts `true` (the real one is exercised above) so only the loop is under test."""
    from nzeza.pipeline.serve import Running

    (project / "pipelines" / "yearly.yaml").write_text(
        "notebook: notebooks/toy.ipynb\noutput: runs/yearly\nschedule: '@yearly'\n"
    )
    clock = Clock(datetime(2026, 12, 31, 23, 59, 0, tzinfo=UTC))
    launched: list[datetime] = []

    def launch(spec, due: datetime) -> Running:
        launched.append(due)
        return Running(subprocess.Popen(["true"]), clock(), due, project / "log")

    server = Server(find_specs([project / "pipelines" / "yearly.yaml"]), clock=clock, launch=launch)
    stop, naps = threading.Event(), []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        clock.now += timedelta(seconds=seconds)
        if len(naps) == 3:
            stop.set()

    server.serve(stop, sleep=sleep, grace=10)
    assert naps == [MAX_SLEEP_S, 30.0, MAX_SLEEP_S]  # capped; to the new year; capped
    assert launched == [datetime(2027, 1, 1, tzinfo=UTC)]
    assert server.jobs[0].next_due == datetime(2028, 1, 1, tzinfo=UTC)
    assert server.jobs[0].finished == [0]


def test_specs_for_serve(project: Path) -> None:
    (project / "pipelines" / "manual.yaml").write_text("notebook: notebooks/toy.ipynb\n")
    specs = find_specs([project / "pipelines"])  # a folder: unscheduled specs left out
    assert [s.name for s in specs] == ["toy"]
    with pytest.raises(ValidationError, match="no schedule"):
        find_specs([project / "pipelines" / "manual.yaml"])


def test_serve_command_stops_cleanly_on_sigterm(project: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nzeza.cli", "pipeline", "serve", str(project / "pipelines")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline()
    assert first.startswith("serving toy (30 2 * * 1-5): next "), first
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping" in out and out.rstrip().endswith("stopped")
    assert "Traceback" not in err
