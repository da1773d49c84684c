"""Pipelines: papermill over a grid on Dask; one failing run does not stop the others; one
execution of a pipeline at a time; every execution recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nzeza.pipeline import PipelineBusy, load_spec, read_history, run_pipeline
from nzeza.pipeline.runner import execution_lock


def test_pipeline_runs_grid_and_isolates_failure(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "toy.yaml")
    assert [r["x"] for r in spec.runs()] == [1, 2, 3]
    records = run_pipeline(spec, progress=False)
    by_x = {r["params"]["x"]: r for r in records}
    assert by_x[1]["status"] == "ok" and by_x[1]["metrics"] == {"y": 10, "label": "fixed"}
    assert by_x[3]["status"] == "ok" and by_x[3]["metrics"]["y"] == 30
    failed = by_x[2]
    assert failed["status"] == "failed"
    assert failed["attempts"] == 2  # retried once
    assert failed["error"]["ename"] == "ValueError"
    assert "planted failure for x=2" in failed["error"]["evalue"]
    assert failed["error"]["cell"] == 1  # index in the source notebook
    for r in records:
        assert Path(r["notebook"]).exists()
        assert r["html"] and Path(r["html"]).read_text().startswith("<!DOCTYPE html>")
    index = json.loads((project / "runs" / "toy" / "index.json").read_text())
    assert len(index["runs"]) == 3 and index["trigger"] == "manual"
    assert index["status"] == "failed" and {r["execution"] for r in records} == {index["execution"]}
    (entry,) = read_history(project / "runs" / "toy")
    assert (entry["ok"], entry["failed"], entry["execution"]) == (2, 1, index["execution"])
    # status reads the index and the history
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "pipeline", "status", str(project / "runs" / "toy")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert out.stdout.count("ok ") >= 2 and "failed" in out.stdout
    assert "1 executions" in out.stdout


def test_executed_notebooks_are_trusted(project: Path, tmp_path: Path) -> None:
    """JupyterLab renders widgets only in trusted notebooks: the runner signs what it ran."""
    import nbformat
    from nbformat.sign import NotebookNotary

    spec = load_spec(project / "pipelines" / "toy.yaml").with_overrides({"x": 1})
    (record,) = run_pipeline(spec, progress=False)
    nb = nbformat.read(record["notebook"], as_version=4)
    assert NotebookNotary().check_signature(nb)
    nb.cells[-1].source += "\n# edited by someone else"
    assert not NotebookNotary().check_signature(nb)


def test_a_second_execution_of_a_running_pipeline_is_refused(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "toy.yaml")
    with execution_lock(spec, spec.output, "held-by-test"):
        with pytest.raises(PipelineBusy, match="held-by-test"):
            run_pipeline(spec, progress=False)
        proc = subprocess.run(
            [sys.executable, "-m", "nzeza.cli", "pipeline", "run", str(spec.source)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2
    assert "already running" in proc.stderr and "Traceback" not in proc.stderr
    assert not (spec.output / "index.json").exists()


def test_overrides_from_the_command_line(project: Path) -> None:
    """`-p` narrows a grid parameter and sets a fixed one, values read as YAML."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nzeza.cli",
            "pipeline",
            "run",
            str(project / "pipelines" / "toy.yaml"),
            "-p",
            "x=3",
            "-p",
            "label=over",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 ok, 0 failed" in proc.stdout
    index = json.loads((project / "runs" / "toy" / "index.json").read_text())
    (run,) = index["runs"]
    assert run["params"] == {"label": "over", "x": 3} and run["metrics"]["y"] == 30
