"""Cron schedules: the language cron and `serve` both read, next fire times, and a crontab
line that runs on a fresh clone."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzeza.errors import ValidationError
from nzeza.pipeline import crontab_line, fire_times, load_spec, next_fire, validate_cron

T0 = datetime(2026, 3, 1, 10, 17, 30, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("5-2 * * * *", "runs backwards"),  # croniter alone would wrap it around the hour
        ("* * * *", "5 fields"),
        ("0 0 * * * *", "5 fields"),  # croniter's seconds field: cron has none
        ("61 * * * *", "0..59"),
        ("*/0 * * * *", "step 0"),
        ("5/10 * * * *", "step on a single value"),
        ("a b c d e", "not a value"),
        ("0 0 L * *", "not a value"),  # croniter extension
        ("H * * * *", "not a value"),  # croniter extension
        ("0 0 31 2 *", "never fires"),
        ("@reboot", "unknown nickname"),
        ("", "cron expression"),
    ],
)
def test_bad_cron_is_named(expr: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why) as err:
        validate_cron(expr)
    assert err.value.field == "schedule"


@pytest.mark.parametrize(
    ("expr", "first", "second"),
    [
        ("0 0 * * MON", "2026-03-02T00:00", "2026-03-09T00:00"),
        ("0 0 * * mon", "2026-03-02T00:00", "2026-03-09T00:00"),
        ("@daily", "2026-03-02T00:00", "2026-03-03T00:00"),
        ("@hourly", "2026-03-01T11:00", "2026-03-01T12:00"),
        ("*/15 * * * *", "2026-03-01T10:30", "2026-03-01T10:45"),
        ("30 2 * * 1-5", "2026-03-02T02:30", "2026-03-03T02:30"),
        ("0 9 1 JAN,JUL *", "2026-07-01T09:00", "2027-01-01T09:00"),
        ("0 0 * * 7", "2026-03-08T00:00", "2026-03-15T00:00"),  # 7 is Sunday too
        ("0 0 29 2 *", "2028-02-29T00:00", "2032-02-29T00:00"),
    ],
)
def test_next_fire_times(expr: str, first: str, second: str) -> None:
    got = [t.isoformat(timespec="minutes") for t in fire_times(expr, T0, 2)]
    assert got == [first + "+00:00", second + "+00:00"]


def test_fire_times_follow_the_time_zone_of_the_clock() -> None:
    tz = timezone(timedelta(hours=2))
    assert next_fire("0 3 * * *", T0.astimezone(tz)).isoformat() == "2026-03-02T03:00:00+02:00"


@settings(max_examples=60, deadline=None)
@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    start=st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1)),
)
def test_next_fire_is_the_first_matching_minute_after(
    minute: int, hour: int, start: datetime
) -> None:
    start = start.replace(tzinfo=UTC)
    fired = next_fire(f"{minute} {hour} * * *", start)
    assert fired > start and (fired.hour, fired.minute, fired.second) == (hour, minute, 0)
    assert fired - start <= timedelta(days=1)


def test_schedule_line_runs_on_a_fresh_clone(project: Path) -> None:
    """What cron does with the printed line: /bin/sh from $HOME, the log folder absent."""
    (project / "pipelines" / "one.yaml").write_text(
        "name: one\nnotebook: notebooks/toy.ipynb\noutput: runs/one\nschedule: '@daily'\n"
        "parameters: {x: 1}\n"
    )
    spec = load_spec(project / "pipelines" / "one.yaml")
    line = crontab_line(spec)
    assert line.startswith("@daily cd ")
    assert not spec.output.exists()
    command = line.removeprefix("@daily ")
    env = {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "LANG")}
    env |= {"HOME": str(project), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"}
    proc = subprocess.run(
        ["/bin/sh", "-c", command], cwd="/", env=env, capture_output=True, timeout=300
    )
    assert proc.returncode == 0, (proc.stderr, (spec.output / "cron.log").read_text())
    index = json.loads((spec.output / "index.json").read_text())
    assert index["trigger"] == "cron" and index["runs"][0]["status"] == "ok"
    assert "1 ok, 0 failed" in (spec.output / "cron.log").read_text()


def test_schedule_line_quotes_paths_and_escapes_percent(tmp_path: Path) -> None:
    root = tmp_path / "my project 100%"
    (root / "pipelines").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "notebooks" / "n.ipynb").write_text("{}")
    (root / "pipelines" / "p.yaml").write_text(
        "notebook: notebooks/n.ipynb\nschedule: '0 3 * * *'\n"
    )
    line = crontab_line(load_spec(root / "pipelines" / "p.yaml"))
    assert "%" not in line.replace("\\%", "")
    # cron hands the line, % unescaped, to /bin/sh: it must parse back to the same paths
    words = shlex.split(line.removeprefix("0 3 * * * ").replace("\\%", "%"))
    assert words[1] == str(root)


def test_schedule_command_prints_the_line_and_next_times(project: Path) -> None:
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            "pipeline",
            "schedule",
            str(project / "pipelines" / "toy.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()[:2]
    assert first.startswith("30 2 * * 1-5 cd ") and " pipeline run " in first
    assert second.startswith("# next: ")
