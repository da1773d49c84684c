"""Pipelines: papermill over a grid on Dask; one failing run does not stop the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nzeza.errors import ValidationError
from nzeza.notebook.pipeline import crontab_line, load_spec, run_pipeline, validate_cron


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nlabel = 'a'\nmetrics_path = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "if x == 2:\n    raise ValueError(f'planted failure for x={x}')\ny = x * 10"
        ),
        nbformat.v4.new_code_cell(
            "from nzeza.notebook import record_metrics\n"
            "record_metrics(metrics_path, {'y': y, 'label': label})"
        ),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "notebooks").mkdir()
    write_notebook(tmp_path / "notebooks" / "toy.ipynb")
    (tmp_path / "pipelines" / "toy.yaml").write_text(
        "name: toy\nnotebook: notebooks/toy.ipynb\noutput: runs/toy\nretries: 1\n"
        "schedule: '30 2 * * 1-5'\nworkers: 2\nparameters: {label: fixed}\ngrid: {x: [1, 2, 3]}\n"
    )
    return tmp_path


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
    assert len(index["runs"]) == 3
    # status reads the index
    out = subprocess.run(
        [sys.executable, "-m", "nzeza.cli", "pipeline", "status", str(project / "runs" / "toy")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert out.stdout.count("ok ") >= 2 and "failed" in out.stdout


def test_schedule_line(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "toy.yaml")
    line = crontab_line(spec, project)
    assert line.startswith("30 2 * * 1-5 cd ")
    assert "nzeza pipeline run" in line


@pytest.mark.parametrize("expr", ["* * * *", "61 * * * *", "*/0 * * * *", "a b c d e"])
def test_bad_cron_is_named(expr: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_cron(expr)
    assert err.value.field == "schedule"


def test_bad_spec_errors(project: Path) -> None:
    bad = project / "pipelines" / "bad.yaml"
    bad.write_text("notebook: notebooks/missing.ipynb\n")
    with pytest.raises(ValidationError) as err:
        load_spec(bad)
    assert err.value.field == "notebook"
    bad.write_text("notebook: notebooks/toy.ipynb\ngrid: {x: []}\n")
    with pytest.raises(ValidationError) as err:
        load_spec(bad)
    assert err.value.field == "grid"
    bad.write_text("notebook: notebooks/toy.ipynb\nretrys: 2\n")
    with pytest.raises(ValidationError, match="unknown keys"):
        load_spec(bad)
