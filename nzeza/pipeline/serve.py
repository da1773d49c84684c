"""`nzeza pipeline serve`: run pipelines when their schedules say, in the foreground.

For a container or a systemd unit, instead of cron. Each due pipeline runs as its own
`nzeza pipeline run SPEC --trigger serve` process (its own process group, its output in
`<output>/logs/`), which records the execution in the pipeline's `index.json` and
`history.jsonl`. A pipeline whose previous execution is still going when its next time comes
is not started twice: that fire time is recorded as `skipped`. Missed fire times (a suspended
machine, a long tick) are not caught up one by one: a pipeline runs once for the newest.

SIGTERM or SIGINT stops the loop at once; executions still running get `grace` seconds to
finish, then their process groups are terminated and each is recorded as `interrupted`.

The clock is injectable (`clock` returns an aware datetime), so the schedule is tested without
waiting for real minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nzeza.errors import ValidationError
from nzeza.pipeline.runner import append_history
from nzeza.pipeline.schedule import next_fire, nzeza_command
from nzeza.pipeline.spec import PipelineSpec, load_spec

MAX_SLEEP_S = 30.0  # wake at least this often to reap finished runs


def local_now() -> datetime:
    """Now, aware, in the machine's local time zone (the zone cron reads schedules in)."""
    return datetime.now().astimezone()


def find_specs(targets: Sequence[str | Path]) -> list[PipelineSpec]:
    """Specs from files and folders (every `*.yaml`/`*.yml` in a folder). A spec named on the
    command line must have a schedule; one found in a folder without a schedule is left out."""
    specs: list[PipelineSpec] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not files:
                raise ValidationError("target", str(target), "no pipeline specs (*.yaml) here")
            specs += [s for s in map(load_spec, files) if s.schedule]
        else:
            spec = load_spec(path)
            if not spec.schedule:
                raise ValidationError("schedule", None, f"spec {path} has no schedule to serve")
            specs.append(spec)
    if not specs:
        raise ValidationError("target", [str(t) for t in targets], "no scheduled pipeline")
    outputs = [s.output for s in specs]
    if len(set(outputs)) != len(outputs):
        raise ValidationError("output", [str(o) for o in outputs], "two specs share an output")
    return specs


@dataclass
class Running:
    """One execution started by the server: its process and where its output goes."""

    process: subprocess.Popen[bytes]
    started: datetime
    due: datetime
    log: Path


def launch_run(spec: PipelineSpec, due: datetime) -> Running:
    """Start `nzeza pipeline run SPEC --trigger serve` in a process group of its own."""
    logs = spec.output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{due:%Y%m%dT%H%M%S%z}.log"
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            [*nzeza_command(), "pipeline", "run", str(spec.source), "--trigger", "serve"],
            cwd=spec.root,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Running(process, local_now(), due, log)


@dataclass
class Job:
    spec: PipelineSpec
    next_due: datetime
    running: Running | None = None
    finished: list[int] = field(default_factory=list)  # exit codes, oldest first


class Server:
    """The schedule loop over some specs. `tick()` does one round; `serve()` loops."""

    def __init__(
        self,
        specs: Sequence[PipelineSpec],
        *,
        clock: Callable[[], datetime] = local_now,
        launch: Callable[[PipelineSpec, datetime], Running] = launch_run,
        log: Callable[[str], None] = print,
    ) -> None:
        self.clock, self.launch, self.log = clock, launch, log
        now = clock()
        self.jobs = [Job(s, next_fire(s.schedule or "", now)) for s in specs]

    def tick(self) -> list[tuple[str, str]]:
        """Reap finished executions, start the due ones; returns (pipeline, event) pairs."""
        now = self.clock()
        events: list[tuple[str, str]] = []
        for job in self.jobs:
            name = job.spec.name
            if job.running is not None and job.running.process.poll() is not None:
                code = job.running.process.returncode
                job.finished.append(code)
                events.append((name, f"finished (exit {code}, log {job.running.log})"))
                job.running = None
            if now < job.next_due:
                continue
            due, job.next_due = job.next_due, next_fire(job.spec.schedule or "", now)
            if job.running is not None:
                reason = (
                    f"previous execution (pid {job.running.process.pid}, due "
                    f"{job.running.due.isoformat()}) still running"
                )
                append_history(
                    job.spec.output,
                    {
                        "pipeline": name,
                        "trigger": "serve",
                        "status": "skipped",
                        "due": due.isoformat(),
                        "reason": reason,
                        "finished": time.time(),
                    },
                )
                events.append((name, f"skipped {due.isoformat()}: {reason}"))
                continue
            job.running = self.launch(job.spec, due)
            events.append((name, f"started for {due.isoformat()} (pid {job.running.process.pid})"))
        for name, event in events:
            self.log(f"{self.clock().isoformat(timespec='seconds')} {name}: {event}")
        return events

    def seconds_to_next(self) -> float:
        """How long the loop may sleep: until the next fire time, at most MAX_SLEEP_S."""
        wait = min(j.next_due for j in self.jobs) - self.clock()
        return max(0.0, min(wait.total_seconds(), MAX_SLEEP_S))

    def serve(
        self,
        stop: threading.Event,
        sleep: Callable[[float], Any] | None = None,
        grace: float = 60.0,
    ) -> None:
        """Tick until `stop` is set, then stop the executions still running."""
        sleep = sleep or stop.wait
        for job in self.jobs:
            self.log(f"serving {job.spec.name} ({job.spec.schedule}): next {job.next_due}")
        while not stop.is_set():
            self.tick()
            if not stop.is_set():
                sleep(self.seconds_to_next())
        self.shutdown(grace)

    def shutdown(self, grace: float) -> None:
        """Give running executions `grace` seconds, then terminate and record them."""
        deadline = time.monotonic() + grace
        for job in self.jobs:
            run = job.running
            if run is None:
                continue
            try:
                run.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                job.finished.append(run.process.returncode)
                self.log(f"{job.spec.name}: finished (exit {run.process.returncode})")
            except subprocess.TimeoutExpired:
                _terminate_group(run.process)
                append_history(
                    job.spec.output,
                    {
                        "pipeline": job.spec.name,
                        "trigger": "serve",
                        "status": "interrupted",
                        "due": run.due.isoformat(),
                        "reason": "nzeza pipeline serve was stopped",
                        "finished": time.time(),
                    },
                )
                self.log(f"{job.spec.name}: interrupted (log {run.log})")
            job.running = None


def _terminate_group(process: subprocess.Popen[bytes], wait_s: float = 15.0) -> None:
    """SIGTERM the run's process group (runner, Dask workers, kernels), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


__all__ = ["MAX_SLEEP_S", "Running", "Server", "find_specs", "launch_run", "local_now"]
