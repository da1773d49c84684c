"""A toy project (pipelines/ + notebooks/) for the pipeline tests: a notebook that fails on
purpose for x == 2, and can wait for a gate file so a test controls when a run ends."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nlabel = 'a'\ngate = None\nmetrics_path = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import time, pathlib\n"
            "while gate and not pathlib.Path(gate).exists():\n"
            "    time.sleep(0.1)\n"
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
