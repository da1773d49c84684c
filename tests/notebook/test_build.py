"""The notebooks as `make notebooks` writes them (scripts/build_notebooks.py): stable bytes and
the metadata JupyterLab would otherwise rewrite when it opens them."""

from __future__ import annotations

import json
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from support.notebook_source import builder, source_notebook

NAMES = sorted(builder().NOTEBOOKS)


def test_rebuilding_gives_the_same_bytes(tmp_path: Path) -> None:
    for name in NAMES:
        first = source_notebook(name, tmp_path / "a").read_bytes()
        assert source_notebook(name, tmp_path / "b").read_bytes() == first, name


def test_metadata_is_what_jupyterlab_writes(tmp_path: Path) -> None:
    """JupyterLab rewrites a kernelspec that differs from the installed one (the stored
    notebooks said "Python 3" where ipykernel installs "Python 3 (ipykernel)") and adds cell
    ids to nbformat < 4.5: either marks the notebook modified as it opens."""
    installed = KernelSpecManager().get_kernel_spec("python3")
    for name in NAMES:
        nb = json.loads(source_notebook(name, tmp_path).read_text())
        assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5)
        assert nb["metadata"]["kernelspec"] == {
            "name": "python3",
            "display_name": installed.display_name,
            "language": installed.language,
        }
        ids = [c["id"] for c in nb["cells"]]
        assert ids == [f"{name}-{i:02d}" for i in range(len(ids))]


def test_every_notebook_checks_its_parameters_first(tmp_path: Path) -> None:
    for name in NAMES:
        cells = json.loads(source_notebook(name, tmp_path).read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"]["tags"], name
        assert "use_parameters(globals())" in "".join(code[1]["source"]), name
