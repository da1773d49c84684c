"""Build the product notebooks from their paired sources, then execute them in place.

The notebooks in `notebooks/` are product: numbered, with a `parameters` cell for papermill, no
hidden state, and stored outputs that `make test` checks with nbval. Each `NN_name.ipynb` is
paired (jupytext) with `NN_name.py`, a percent-format script that is the reviewable source:
JupyterLab (with jupytext, a project dependency) saves both files; `make notebooks` first keeps
any edit made to a notebook's cells in JupyterLab (an `.ipynb` newer than its script whose cells
differ is written back to the script), then rebuilds every notebook from its script and executes
it. `tests/notebook/test_build.py` checks that every stored notebook matches its script.

    .venv/bin/python scripts/build_notebooks.py            # all
    .venv/bin/python scripts/build_notebooks.py 01_data    # one
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
import papermill as pm

from nzeza.pipeline.runner import sign_notebook

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
PAIRING = {"formats": "ipynb,py:percent"}
# the product notebooks: every NN_name.py script beside its notebook
NOTEBOOKS: dict[str, Path] = {p.stem: p for p in sorted(NB_DIR.glob("[0-9][0-9]_*.py"))}


def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    """What pairing keeps in step: each cell's kind, source and tags (not outputs or ids)."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def keep_notebook_edits(name: str, folder: Path = NB_DIR) -> bool:
    """Write the cells of `name`.ipynb back to its script when the notebook was edited after the
    script (in JupyterLab without the pairing active) and its cells differ. True if it did."""
    script, notebook = NOTEBOOKS[name], folder / f"{name}.ipynb"
    if not notebook.exists() or notebook.stat().st_mtime <= script.stat().st_mtime:
        return False
    edited = jupytext.read(notebook)
    if cells(edited) == cells(jupytext.read(script)):
        return False
    edited.metadata = {"jupytext": dict(PAIRING), "kernelspec": kernelspec()}
    jupytext.write(edited, script, fmt="py:percent")
    return True


def kernelspec() -> dict[str, str]:
    """The installed `python3` kernelspec, exactly as JupyterLab will describe it: a notebook
    whose stored kernelspec differs (e.g. "Python 3" vs "Python 3 (ipykernel)") is rewritten,
    so marked modified, the moment JupyterLab opens it."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"name": "python3", "display_name": spec.display_name, "language": spec.language}


def stabilise(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Make a built notebook byte-stable across rebuilds and unmodified when opened:
    nbformat 4.5 with cell ids derived from the notebook and the cell's position (random ids
    changed on every rebuild), the installed kernelspec, and no papermill run stamps. The
    `language_info` papermill recorded from the kernel is kept: JupyterLab rewrites it from the
    kernel it starts, so it must be the kernel's own (same Python as the project's .venv)."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata["kernelspec"] = kernelspec()
    nb.metadata.pop("papermill", None)
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name}-{index:02d}"
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def source_notebook(name: str) -> nbformat.NotebookNode:
    """The notebook `name` from its script, not executed (stable ids and metadata)."""
    nb = jupytext.read(NOTEBOOKS[name])
    nb.metadata = {"jupytext": dict(PAIRING), "language_info": {"name": "python"}}
    return stabilise(nb, name)


def write_source(name: str, path: Path) -> Path:
    """Write the unexecuted notebook `name` to `path` (tests run the source through papermill)."""
    nbformat.write(source_notebook(name), path)
    return path


def build(name: str, folder: Path = NB_DIR) -> Path:
    """Write notebook `name` from source into `folder` and execute it there, in place."""
    path = write_source(name, folder / f"{name}.ipynb")
    # papermill (nbclient) stores the widgets' state in the notebook's metadata, so JupyterLab
    # draws the stored widgets instead of their text repr
    pm.execute_notebook(
        str(path), str(path), cwd=str(folder), kernel_name="python3", progress_bar=False
    )
    out = stabilise(nbformat.read(path, as_version=4), name)
    nbformat.write(out, path)
    # trusted for this user: JupyterLab renders widgets only in trusted notebooks (`make
    # install` trusts the stored notebooks on a fresh clone the same way)
    sign_notebook(path)
    return path


def main(argv: list[str]) -> int:
    names = argv or sorted(NOTEBOOKS)
    for name in names:
        if name not in NOTEBOOKS:
            print(f"unknown notebook {name!r}; known: {', '.join(sorted(NOTEBOOKS))}")
            return 2
        if keep_notebook_edits(name):
            print(f"kept the JupyterLab edits of notebooks/{name}.ipynb in {name}.py")
        print(f"building {build(name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
