"""Cron schedules of pipelines: validated, evaluated and printed as a crontab line.

An expression must mean the same thing to the system cron that runs `nzeza pipeline schedule`'s
line and to `nzeza pipeline serve`, which evaluates it with croniter. So the accepted language
is what Vixie cron/cronie accept, no more: five fields (minute, hour, day of month, month, day
of week) of numbers, names (`JAN`…`DEC`, `SUN`…`SAT`), `*`, ranges `a-b` with a <= b, lists and
steps, or one of the nicknames `@yearly @annually @monthly @weekly @daily @midnight @hourly`.
croniter's extensions (a seconds field, `L`, `#`, `H`, `?`, reversed ranges that wrap) are
refused by name, since cron would either reject them or read them differently. Expressions
that can never fire (`0 0 31 2 *`) are refused too.

Times are evaluated in the time zone of the `after` datetime; `serve` uses the machine's local
time zone, as cron does.
"""

from __future__ import annotations

import re
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nzeza.errors import ValidationError

if TYPE_CHECKING:
    from nzeza.pipeline.spec import PipelineSpec

NICKNAMES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i for i, m in enumerate(_MONTHS, 1)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)
_ITEM = re.compile(r"^(?P<base>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[0-9]+))?$")


def _value(text: str, name: str, lo: int, hi: int, names: dict[str, int], expr: str) -> int:
    if text.isdigit():
        value = int(text)
    elif text.upper() in names:
        value = names[text.upper()]
    else:
        raise ValidationError("schedule", expr, f"{text!r} is not a value of the {name} field")
    if not lo <= value <= hi:
        raise ValidationError("schedule", expr, f"{name} must be in {lo}..{hi}, got {text!r}")
    return value


def _check_field(part: str, name: str, lo: int, hi: int, names: dict[str, int], expr: str) -> None:
    for item in part.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ValidationError(
                "schedule", expr, f"{item!r} in the {name} field is not cron syntax"
            )
        step = match["step"]
        if step is not None and int(step) == 0:
            raise ValidationError("schedule", expr, f"step 0 in the {name} field")
        base = match["base"]
        if base == "*":
            continue
        first, _, last = base.partition("-")
        if step is not None and not last:
            raise ValidationError(
                "schedule",
                expr,
                f"step on a single value {item!r} in the {name} field: cron "
                "takes a step only after * or a range (write */N or a-b/N)",
            )
        start = _value(first, name, lo, hi, names, expr)
        if last:
            end = _value(last, name, lo, hi, names, expr)
            if start > end:
                raise ValidationError(
                    "schedule", expr, f"range {base} in the {name} field runs backwards"
                )


def validate_cron(expr: str) -> str:
    """Check a cron expression (see the module docstring); returns it normalised (one space)."""
    from croniter import CroniterBadDateError, croniter

    if not isinstance(expr, str) or not expr.strip():
        raise ValidationError("schedule", expr, "must be a cron expression, e.g. '0 3 * * *'")
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text.lower() not in NICKNAMES:
            raise ValidationError("schedule", expr, f"unknown nickname; one of {NICKNAMES}")
        return text.lower()
    parts = text.split()
    if len(parts) != 5:
        raise ValidationError(
            "schedule", expr, f"must have 5 fields (minute hour dom month dow), got {len(parts)}"
        )
    for part, (name, lo, hi, names) in zip(parts, _FIELDS, strict=True):
        _check_field(part, name, lo, hi, names, expr)
    if not croniter.is_valid(text):  # our grammar is a subset of croniter's: belt and braces
        raise ValidationError("schedule", expr, "croniter cannot read it")
    try:
        croniter(text, datetime(2000, 1, 1), max_years_between_matches=30).get_next(datetime)
    except CroniterBadDateError:
        raise ValidationError("schedule", expr, "never fires (no such date)") from None
    return text


def next_fire(expr: str, after: datetime) -> datetime:
    """The first time strictly after `after` at which `expr` fires, in `after`'s time zone."""
    from croniter import croniter

    return croniter(validate_cron(expr), after).get_next(datetime)


def fire_times(expr: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `after` (for `nzeza pipeline schedule` and tests)."""
    from croniter import croniter

    it = croniter(validate_cron(expr), after)
    return [it.get_next(datetime) for _ in range(count)]


def nzeza_command() -> list[str]:
    """The `nzeza` of the running environment, as an absolute command: the venv's console
    script beside the interpreter, or `python -m nzeza.cli` where there is none."""
    script = Path(sys.executable).with_name("nzeza")
    if script.is_file():
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "nzeza.cli"]


def crontab_line(spec: PipelineSpec) -> str:
    """A crontab line that runs `spec` on its schedule from a fresh clone.

    Everything is absolute (cron starts jobs in $HOME with a minimal PATH), the log folder is
    created by the line itself (cron opens the `>>` target before the command runs, so a
    missing folder meant the job never ran), and `%`, which cron turns into a newline, is
    escaped.
    """
    if not spec.schedule:
        raise ValidationError("schedule", None, f"spec {spec.name} has no schedule")
    log = spec.output / "cron.log"
    parts = [
        f"cd {shlex.quote(str(spec.root))}",
        f"mkdir -p {shlex.quote(str(spec.output))}",
        " ".join(
            shlex.quote(p)
            for p in [*nzeza_command(), "pipeline", "run", str(spec.source), "--trigger", "cron"]
        )
        + f" >> {shlex.quote(str(log))} 2>&1",
    ]
    command = " && ".join(parts).replace("%", "\\%")
    return f"{spec.schedule} {command}"


__all__ = ["NICKNAMES", "crontab_line", "fire_times", "next_fire", "nzeza_command", "validate_cron"]
