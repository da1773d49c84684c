"""Run a pipeline: every parameter set of a spec through papermill, in parallel on Dask.

`run_pipeline` executes each run (local Dask processes by default, or an existing scheduler),
writes each executed notebook (signed, so JupyterLab trusts and renders its widgets) and its
HTML rendering, and records the execution in the output folder: `index.json` holds the newest
execution (status, duration, parameters, key metrics and, for a failure, the failing cell) and
`history.jsonl` gets one line per execution, whoever started it (`nzeza pipeline run`, cron or
`nzeza pipeline serve`). A failing notebook fails only its own run.

One execution of a pipeline at a time per output folder: an exclusive lock on
`<output>/.pipeline.lock` refuses a second one (a cron line and a `serve` on the same spec,
or a slow run still going when its next time comes).

Notebooks report key metrics with `nzeza.notebook.record_metrics(metrics_path, {...})`, where
`metrics_path` is a parameter the runner injects.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nzeza.errors import ConfigError, NzezaError
from nzeza.pipeline.spec import PipelineSpec

TRIGGERS = ("manual", "cron", "serve")


class PipelineBusy(NzezaError):
    """An execution of this pipeline is already running on this output folder."""

    def __init__(self, name: str, output: Path, holder: str) -> None:
        self.name, self.output, self.holder = name, output, holder
        super().__init__(
            f"pipeline {name} is already running in {output} ({holder}); not started twice"
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
    execution: str | None = None


def new_execution_id(now: float | None = None) -> str:
    """UTC time to the second plus a random suffix: sortable, and unique between executions
    started in the same second."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


@contextlib.contextmanager
def execution_lock(spec: PipelineSpec, output: Path, execution: str) -> Iterator[None]:
    """Hold `<output>/.pipeline.lock` for one execution, or raise `PipelineBusy`. The OS drops
    the lock when the holder dies, so a killed run never blocks the next one."""
    import fcntl

    output.mkdir(parents=True, exist_ok=True)
    path = output / ".pipeline.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "unknown holder"
            raise PipelineBusy(spec.name, output, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, execution {execution}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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


def sign_notebook(path: str | Path) -> None:
    """Mark an executed notebook trusted for this user (Jupyter's notary, as JupyterLab does
    when a user saves a notebook they ran): its outputs were produced here, by this user's own
    run, and JupyterLab renders widgets only in trusted notebooks."""
    import nbformat
    from nbformat.sign import NotebookNotary

    nb = nbformat.read(str(path), as_version=4)
    notary = NotebookNotary()
    try:
        notary.sign(nb)
    finally:
        with contextlib.suppress(Exception):
            notary.store.close()


def execute_one(
    notebook: str,
    out_dir: str,
    params: dict[str, Any],
    retries: int,
    timeout: int,
    run_id: str,
    execution: str | None = None,
) -> dict[str, Any]:
    """Run one parameter set with papermill (on a Dask worker); never raises for a bad notebook."""
    import papermill as pm

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
            sign_notebook(nb_out)
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
            execution=execution,
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
    trigger: str = "manual",
) -> list[dict[str, Any]]:
    """Execute every run of `spec` on Dask; record the execution and return its runs."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    if trigger not in TRIGGERS:
        raise ConfigError("trigger", f"{trigger!r} is not one of {', '.join(TRIGGERS)}")
    out = Path(output).resolve() if output else spec.output
    spec = replace(spec, output=out)  # ${output} is where this execution writes
    execution = new_execution_id()
    planned = spec.planned(execution)
    records: list[dict[str, Any]] = []
    started = time.time()
    with execution_lock(spec, out, execution):
        client = _client(scheduler, min(spec.workers, len(planned)))
        try:
            futures = [
                client.submit(
                    execute_one,
                    str(spec.notebook),
                    str(out),
                    params,
                    spec.retries,
                    spec.timeout,
                    run_id,
                    execution,
                    pure=False,
                )
                for run_id, params in planned
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
        write_index(spec, out, execution, trigger, started, records)
    return records


def _summary(records: Sequence[dict[str, Any]]) -> str:
    failed = sum(r["status"] != "ok" for r in records)
    return "ok" if not failed else "failed"


def write_index(
    spec: PipelineSpec,
    out: Path,
    execution: str,
    trigger: str,
    started: float,
    records: list[dict[str, Any]],
    status: str | None = None,
) -> dict[str, Any]:
    """Replace `index.json` with this execution (atomically) and append it to `history.jsonl`."""
    index = {
        "pipeline": spec.name,
        "spec": str(spec.source),
        "notebook": str(spec.notebook),
        "execution": execution,
        "trigger": trigger,
        "status": status or _summary(records),
        "started": started,
        "finished": time.time(),
        "runs": records,
    }
    out.mkdir(parents=True, exist_ok=True)
    if records:
        tmp = out / "index.json.tmp"
        tmp.write_text(json.dumps(index, indent=2, default=str))
        os.replace(tmp, out / "index.json")
    append_history(out, {k: v for k, v in index.items() if k != "runs"} | _run_lines(records))
    return index


def _run_lines(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ok": sum(r["status"] == "ok" for r in records),
        "failed": sum(r["status"] != "ok" for r in records),
        "runs": [
            {"run_id": r["run_id"], "status": r["status"], "duration_s": r["duration_s"]}
            for r in records
        ],
    }


def append_history(out: Path, entry: dict[str, Any]) -> None:
    """One JSON line per execution (or skipped/interrupted one), appended in one write."""
    out.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, default=str) + "\n"
    fd = os.open(out / "history.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_history(output: str | Path) -> list[dict[str, Any]]:
    path = Path(output) / "history.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_index(output: str | Path) -> dict[str, Any]:
    path = Path(output) / "index.json"
    if not path.is_file():
        raise ConfigError(str(path), "no pipeline run index here", "run `nzeza pipeline run` first")
    return json.loads(path.read_text())


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


__all__ = [
    "TRIGGERS",
    "PipelineBusy",
    "RunRecord",
    "append_history",
    "execute_one",
    "execution_lock",
    "iter_failures",
    "new_execution_id",
    "read_history",
    "read_index",
    "render_html",
    "run_pipeline",
    "sign_notebook",
    "write_index",
]
