"""Pipeline specs: a notebook, fixed parameters, a grid (cartesian product), an output folder,
retries, a per-run timeout, a cron schedule and the number of parallel workers (YAML).

String parameter values may name the run they belong to, so that parallel runs and successive
executions never share state (a session id, a ledger, a scratch folder):

    ${run_id}     this parameter set's id (grid values + a hash of every parameter; stable)
    ${execution}  this execution of the pipeline (UTC time + random suffix; new every time)
    ${pipeline}   the spec's name
    ${output}     the pipeline's output folder (absolute)
    ${root}       the project root (absolute)

A spec whose runs would share one `session_id` is refused at load: parallel sessions writing
one session's rows into a ledger corrupt each other.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from nzeza.errors import ValidationError
from nzeza.pipeline.schedule import validate_cron

PLACEHOLDERS = ("run_id", "execution", "pipeline", "output", "root")
# parameters that name mutable state of their own: no two runs of one execution may share one
PER_RUN_PARAMETERS = ("session_id",)
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_ALLOWED_KEYS = (
    "name",
    "notebook",
    "output",
    "parameters",
    "grid",
    "retries",
    "timeout",
    "schedule",
    "workers",
)


@dataclass(frozen=True)
class PipelineSpec:
    """One pipeline. Paths are absolute; `root` is the project the spec belongs to."""

    name: str
    notebook: Path
    output: Path
    parameters: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, list[Any]] = field(default_factory=dict)
    retries: int = 0
    timeout: int = 1800
    schedule: str | None = None
    workers: int = 2
    source: Path | None = None
    root: Path = field(default_factory=Path.cwd)

    def runs(self) -> list[dict[str, Any]]:
        """Every parameter set: the fixed parameters updated with each grid combination
        (placeholders not yet expanded)."""
        keys = list(self.grid)
        combos = itertools.product(*(self.grid[k] for k in keys)) if keys else [()]
        return [{**self.parameters, **dict(zip(keys, combo, strict=True))} for combo in combos]

    def expand(self, params: Mapping[str, Any], run_id: str, execution: str) -> dict[str, Any]:
        """`params` with the placeholders of its string values filled in for one run."""
        values = {
            "run_id": run_id,
            "execution": execution,
            "pipeline": self.name,
            "output": str(self.output),
            "root": str(self.root),
        }
        return {k: _fill(k, v, values) for k, v in params.items()}

    def planned(self, execution: str) -> list[tuple[str, dict[str, Any]]]:
        """(run id, expanded parameters) of every run of one execution."""
        keys = list(self.grid)
        return [(rid := run_id_for(p, keys), self.expand(p, rid, execution)) for p in self.runs()]

    def with_overrides(self, overrides: Mapping[str, Any]) -> PipelineSpec:
        """This spec with some parameters set for one invocation (`pipeline run -p K=V`): a
        grid parameter is narrowed to the given value, any other is set."""
        grid = dict(self.grid)
        params = dict(self.parameters)
        for key, value in overrides.items():
            if key in grid:
                grid[key] = [value]
            else:
                params[key] = value
        out = replace(self, parameters=params, grid=grid)
        _check_runs(out)
        return out


def _fill(key: str, value: Any, values: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            raise ValidationError(
                key, value, f"unknown placeholder ${{{name}}}; one of {', '.join(PLACEHOLDERS)}"
            )
        return values[name]

    return _PLACEHOLDER.sub(sub, value)


def run_id_for(params: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """A readable, stable id for a parameter set: the values of `keys` (the grid) and a hash
    of every parameter."""
    text = json.dumps(dict(params), sort_keys=True, default=str)
    shown = [params[k] for k in keys if k in params] if keys else list(params.values())
    slug = "_".join(f"{v}" for v in shown if isinstance(v, str | int | float))[:60]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", slug).strip("-") or "run"
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _check_runs(spec: PipelineSpec) -> None:
    """Refuse, before any kernel starts, what would make parallel runs collide."""
    planned = spec.planned("check")  # also checks every placeholder name
    ids = [rid for rid, _ in planned]
    if len(set(ids)) != len(ids):
        raise ValidationError("grid", dict(spec.grid), "two grid entries give the same run")
    for key in PER_RUN_PARAMETERS:
        values = [p[key] for _, p in planned if key in p]
        if len(values) > 1 and len(set(map(str, values))) < len(values):
            raise ValidationError(
                key,
                spec.parameters.get(key, values[0]),
                f"is shared by {len(values)} runs of pipeline {spec.name}; each run needs its "
                "own: put ${run_id} (and ${execution}, for a new one each time) in it",
            )


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline spec; paths are relative to the spec's project root (the
    folder above `pipelines/`, else the current directory)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError("spec", str(path), "no such pipeline spec file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValidationError("spec", str(path), f"is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationError("spec", str(path), "must be a mapping")
    unknown = set(raw) - set(_ALLOWED_KEYS)
    if unknown:
        raise ValidationError(
            "spec", sorted(unknown), f"unknown keys; allowed: {sorted(_ALLOWED_KEYS)}"
        )
    source = path.resolve()
    root = source.parent.parent if source.parent.name == "pipelines" else Path.cwd().resolve()
    notebook = raw.get("notebook")
    if not notebook:
        raise ValidationError("notebook", notebook, "is required")
    nb_path = (root / notebook).resolve()
    if not nb_path.is_file():
        raise ValidationError("notebook", notebook, f"not found at {nb_path}")
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ValidationError("grid", grid, "must map each parameter to a non-empty list")
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        raise ValidationError("parameters", params, "must be a mapping")
    for key, lo in (("retries", 0), ("timeout", 1), ("workers", 1)):
        if key in raw and (
            not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < lo
        ):
            raise ValidationError(key, raw[key], f"must be an integer >= {lo}")
    schedule = raw.get("schedule")
    spec = PipelineSpec(
        name=str(raw.get("name") or path.stem),
        notebook=nb_path,
        output=(root / raw.get("output", f"runs/pipelines/{path.stem}")).resolve(),
        parameters=params,
        grid=grid,
        retries=int(raw.get("retries", 0)),
        timeout=int(raw.get("timeout", 1800)),
        schedule=validate_cron(str(schedule)) if schedule is not None else None,
        workers=int(raw.get("workers", 2)),
        source=source,
        root=root,
    )
    _check_runs(spec)
    return spec


__all__ = ["PER_RUN_PARAMETERS", "PLACEHOLDERS", "PipelineSpec", "load_spec", "run_id_for"]
