"""Pipelines: declarative papermill runs over a parameter grid, executed in parallel on Dask.

A spec (YAML) names a notebook, fixed parameters, a grid (cartesian product), an output folder,
retries, a per-run timeout and a cron expression. `run_pipeline` executes every parameter set
with papermill on a Dask cluster (local processes by default, or an existing scheduler), writes
each executed notebook and its HTML rendering, and a run index (`index.json`) with status,
duration, parameters, key metrics and, for failures, the failing cell. A failing notebook marks
only its own run failed.

Notebooks report key metrics with `nzeza.notebook.record_metrics(metrics_path, {...})`, where
`metrics_path` is a parameter the runner injects.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nzeza.errors import ConfigError, ValidationError

_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


def validate_cron(expr: str) -> str:
    """Check a 5-field cron expression (numbers, *, ranges, lists, steps); returns it."""
    parts = expr.split()
    if len(parts) != 5:
        raise ValidationError("schedule", expr, "must have 5 fields: minute hour dom month dow")
    for part, (name, lo, hi) in zip(parts, _CRON_FIELDS, strict=True):
        for item in part.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                raise ValidationError("schedule", expr, f"bad step {step!r} in the {name} field")
            if base == "*":
                continue
            lo_s, _, hi_s = base.partition("-")
            for v in (lo_s, hi_s) if hi_s else (lo_s,):
                if not v.isdigit() or not lo <= int(v) <= hi:
                    raise ValidationError(
                        "schedule", expr, f"{name} must be in {lo}..{hi}, got {v!r}"
                    )
    return expr


@dataclass(frozen=True)
class PipelineSpec:
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

    def runs(self) -> list[dict[str, Any]]:
        """Every parameter set: the fixed parameters updated with each grid combination."""
        keys = list(self.grid)
        combos = itertools.product(*(self.grid[k] for k in keys)) if keys else [()]
        return [{**self.parameters, **dict(zip(keys, combo, strict=True))} for combo in combos]


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline spec; paths are relative to the spec's project root."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError("spec", str(path), "no such pipeline spec file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValidationError("spec", str(path), f"is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationError("spec", str(path), "must be a mapping")
    allowed = {
        "name",
        "notebook",
        "output",
        "parameters",
        "grid",
        "retries",
        "timeout",
        "schedule",
        "workers",
    }
    unknown = set(raw) - allowed
    if unknown:
        raise ValidationError("spec", sorted(unknown), f"unknown keys; allowed: {sorted(allowed)}")
    root = path.resolve().parent.parent if path.resolve().parent.name == "pipelines" else Path.cwd()
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
    for key, typ, lo in (("retries", int, 0), ("timeout", int, 1), ("workers", int, 1)):
        if key in raw and (not isinstance(raw[key], typ) or raw[key] < lo):
            raise ValidationError(key, raw[key], f"must be an integer >= {lo}")
    schedule = raw.get("schedule")
    if schedule is not None:
        validate_cron(str(schedule))
    return PipelineSpec(
        name=str(raw.get("name") or path.stem),
        notebook=nb_path,
        output=(root / raw.get("output", f"runs/pipelines/{path.stem}")).resolve(),
        parameters=params,
        grid=grid,
        retries=int(raw.get("retries", 0)),
        timeout=int(raw.get("timeout", 1800)),
        schedule=str(schedule) if schedule else None,
        workers=int(raw.get("workers", 2)),
        source=path.resolve(),
    )


@dataclass
class RunRecord:
    run_id: str
    params: dict[str, Any]
    status: str  # ok | failed
    duration_s: float
    attempts: int
    notebook: str
    html: str | None
    metrics: dict[str, Any]
    error: dict[str, Any] | None = None


def run_id_for(params: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """A readable, stable id for a parameter set: the values of `keys` (the grid) and a hash
    of every parameter."""
    text = json.dumps(dict(params), sort_keys=True, default=str)
    shown = [params[k] for k in keys if k in params] if keys else list(params.values())
    slug = "_".join(f"{v}" for v in shown if isinstance(v, str | int | float))[:60]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", slug).strip("-") or "run"
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _error_cell(nb_path: Path) -> dict[str, Any] | None:
    import nbformat

    if not nb_path.exists():
        return None
    nb = nbformat.read(nb_path, as_version=4)
    index = -1  # position in the source notebook: papermill's own inserted cells do not count
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"injected-parameters", "papermill-error-cell-tag"}:
            continue
        index += 1
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return {
                    "cell": index,
                    "ename": out.get("ename"),
                    "evalue": out.get("evalue"),
                    "source": cell.get("source", "")[:500],
                }
    return None


def execute_one(
    notebook: str,
    out_dir: str,
    params: dict[str, Any],
    retries: int,
    timeout: int,
    grid_keys: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run one parameter set with papermill (on a Dask worker); never raises for a bad notebook."""
    import papermill as pm

    run_id = run_id_for(params, grid_keys)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    nb_out = out / f"{run_id}.ipynb"
    metrics_path = out / f"{run_id}.metrics.json"
    metrics_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    attempts, error = 0, None
    for attempt in range(retries + 1):
        attempts = attempt + 1
        try:
            pm.execute_notebook(
                notebook,
                str(nb_out),
                parameters={**params, "metrics_path": str(metrics_path)},
                kernel_name="python3",
                progress_bar=False,
                execution_timeout=timeout,
                cwd=str(Path(notebook).parent),
                **_kernel_transport(),
            )
            error = None
            break
        except Exception as exc:  # papermill raises its own error types; the run fails alone
            error = _error_cell(nb_out) or {"ename": type(exc).__name__, "evalue": str(exc)[:500]}
    html = None
    if nb_out.exists():
        try:
            body = render_html(nb_out)
            html_path = nb_out.with_suffix(".html")
            html_path.write_text(body, encoding="utf-8")
            html = str(html_path)
        except Exception as exc:  # a rendering failure must not hide the run's own result
            html = None
            error = error or {"ename": "HTMLRenderError", "evalue": str(exc)[:300]}
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    return asdict(
        RunRecord(
            run_id=run_id,
            params=params,
            status="failed" if error else "ok",
            duration_s=round(time.perf_counter() - t0, 2),
            attempts=attempts,
            notebook=str(nb_out),
            html=html,
            metrics=metrics,
            error=error,
        )
    )


def render_html(nb_path: str | Path) -> str:
    """The executed notebook as one HTML page, its plotly figures drawn (plotly.js inline once).

    Notebooks store figures as plotly JSON only (JupyterLab draws them); nbconvert cannot, so
    each figure gets an HTML rendering before export.
    """
    import nbformat
    import plotly.io as pio
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(nb_path), as_version=4)
    first = True
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            fig = data.get("application/vnd.plotly.v1+json")
            if fig is None or "text/html" in data:
                continue
            data["text/html"] = pio.to_html(fig, include_plotlyjs=first, full_html=False)
            data.pop("application/vnd.plotly.v1+json")
            first = False
    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


def _client(scheduler: str | None, workers: int) -> Any:
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout="10s")
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    return Client(cluster)


def run_pipeline(
    spec: PipelineSpec,
    output: str | Path | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Execute every run of `spec` on Dask; write and return the run index."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    out = Path(output).resolve() if output else spec.output
    out.mkdir(parents=True, exist_ok=True)
    runs = spec.runs()
    client = _client(scheduler, min(spec.workers, len(runs)))
    records: list[dict[str, Any]] = []
    started = time.time()
    try:
        futures = [
            client.submit(
                execute_one,
                str(spec.notebook),
                str(out),
                params,
                spec.retries,
                spec.timeout,
                list(spec.grid),
                pure=False,
            )
            for params in runs
        ]
        bar = tqdm(total=len(futures), desc=f"pipeline {spec.name}", disable=not progress)
        for fut in as_completed(futures):
            records.append(fut.result())
            bar.update()
        bar.close()
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()
    records.sort(key=lambda r: r["run_id"])
    index = {
        "pipeline": spec.name,
        "spec": str(spec.source),
        "notebook": str(spec.notebook),
        "started": started,
        "finished": time.time(),
        "runs": records,
    }
    tmp = out / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=2, default=str))
    os.replace(tmp, out / "index.json")
    return records


def read_index(output: str | Path) -> dict[str, Any]:
    path = Path(output) / "index.json"
    if not path.is_file():
        raise ConfigError(str(path), "no pipeline run index here", "run `nzeza pipeline run` first")
    return json.loads(path.read_text())


def crontab_line(spec: PipelineSpec, project_root: str | Path | None = None) -> str:
    if not spec.schedule:
        raise ValidationError("schedule", None, f"spec {spec.name} has no schedule")
    root = Path(project_root or Path.cwd()).resolve()
    log = spec.output / "cron.log"
    return f"{spec.schedule} cd {root} && .venv/bin/nzeza pipeline run {spec.source} >> {log} 2>&1"


def iter_failures(records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (r for r in records if r["status"] != "ok")


def _kernel_transport() -> dict[str, Any]:
    """Run the kernel over IPC sockets where the platform has them: nothing listens on TCP
    (ipykernel warns, rightly, that local TCP is unencrypted), and the run is local anyway.
    Each kernel gets its own socket path prefix: kernels started at the same moment by the
    parallel runner would otherwise pick the same socket files."""
    if os.name != "posix":
        return {}
    import tempfile
    import uuid

    from traitlets.config import Config

    prefix = os.path.join(tempfile.gettempdir(), f"nzeza-kernel-{uuid.uuid4().hex[:16]}")
    return {"config": Config({"KernelManager": {"transport": "ipc", "ip": prefix}})}
